// Driver registry: name -> factory. Each driver folder exposes one factory.
#include <string>

#include "drivers/driver.h"

namespace lr {

std::unique_ptr<Driver> make_null_driver(const Config& cfg, Mempool& pool, uint16_t port_id);
std::unique_ptr<Driver> make_ring_driver(const Config& cfg, Mempool& pool, uint16_t port_id);
std::unique_ptr<Driver> make_pcap_driver(const Config& cfg, Mempool& pool, uint16_t port_id);
std::unique_ptr<Driver> make_vfio_driver(const Config& cfg, Mempool& pool, uint16_t port_id);
std::unique_ptr<Driver> make_af_xdp_driver(const Config& cfg, Mempool& pool, uint16_t port_id);
std::unique_ptr<Driver> make_af_packet_driver(const Config& cfg, Mempool& pool, uint16_t port_id);
std::unique_ptr<Driver> make_tap_driver(const Config& cfg, Mempool& pool, uint16_t port_id);

namespace {
struct Entry {
  const char* name;
  DriverFactory make;
};
const Entry kDrivers[] = {
    {"null", make_null_driver},
    {"ring", make_ring_driver},
    {"pcap", make_pcap_driver},
    {"vfio", make_vfio_driver},
    {"af_xdp", make_af_xdp_driver},
    {"af_packet", make_af_packet_driver},
    {"tap", make_tap_driver},
};
}  // namespace

std::vector<std::string> driver_names() {
  std::vector<std::string> v;
  for (auto& e : kDrivers) v.push_back(e.name);
  return v;
}

std::unique_ptr<Driver> open_driver(const std::string& name, const Config& cfg, Mempool& pool, uint16_t port_id) {
  for (auto& e : kDrivers)
    if (name == e.name) return e.make(cfg, pool, port_id);
  std::string list;
  for (auto& n : driver_names()) list += (list.empty() ? "" : ", ") + n;
  fail("UNKNOWN_DRIVER", "unknown driver '" + name + "' (available: " + list + ")");
}

MacAddr virtual_mac(uint16_t port_id) {
  return {0x02, 0x4c, 0x52, 0x00, uint8_t(port_id >> 8), uint8_t(port_id)};
}

}  // namespace lr
