#include "drivers/vfio/nic.h"
namespace lr::vfio {
std::unique_ptr<Driver> make_virtio_net(NicParams&& p) { fail("DEVICE_UNSUPPORTED", p.scope + ": virtio-net: not yet"); }
}
