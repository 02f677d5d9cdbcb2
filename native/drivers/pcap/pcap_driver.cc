// placeholder until the pcap driver lands
#include "drivers/driver.h"
namespace lr {
std::unique_ptr<Driver> make_pcap_driver(const Config& cfg, Mempool& pool, uint16_t port_id) {
  fail("UNKNOWN_DRIVER", "pcap driver not built yet");
}
}  // namespace lr
