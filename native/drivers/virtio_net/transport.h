// virtio over PCI (virtio 1.2 §4.1): the structures a modern device exposes
// through vendor-specific PCI capabilities (common configuration, notification,
// device-specific configuration, §4.1.4), and what the driver does through
// them: reset, feature negotiation (§3.1.1), configuration reads, virtqueue
// setup (§4.1.5.1.3) and notifications (§4.1.4.4). The network device itself
// (§5.1) is virtio_net_driver.cc.
#pragma once
#include <cstdint>
#include <string>

#include "drivers/vfio/nic.h"
#include "drivers/virtio_net/virtqueue.h"

namespace lr::vfio {

// A structure found through a virtio PCI capability: BAR + offset.
struct Window {
  const Bar* bar = nullptr;
  uint32_t off = 0, len = 0;
  uint8_t r8(uint32_t o) const { return bar->read8(off + o); }
  uint16_t r16(uint32_t o) const { return bar->read16(off + o); }
  uint32_t r32(uint32_t o) const { return bar->read32(off + o); }
  void w8(uint32_t o, uint8_t v) const { bar->write8(off + o, v); }
  void w16(uint32_t o, uint16_t v) const { bar->write16(off + o, v); }
  void w32(uint32_t o, uint32_t v) const { bar->write32(off + o, v); }
  // §4.1.3.1: 64-bit fields as two 32-bit writes, low then high.
  void w64(uint32_t o, uint64_t v) const {
    w32(o, uint32_t(v));
    w32(o + 4, uint32_t(v >> 32));
  }
};

class Transport {
 public:
  Window common, notify, device;

  // §4.1.4: the first capability of each type. DEVICE_UNSUPPORTED without all three.
  void find(Device& dev, const std::string& scope);
  // Writes status 0 and waits for it to read back 0 (§4.1.4.3.2). DEVICE_TIMEOUT.
  void reset(const std::string& scope) const;
  void set_status(uint8_t s) const;
  uint64_t read_features() const;
  // §3.1.1 steps 4-6: write the subset taken, set FEATURES_OK, check it stuck.
  void negotiate(uint64_t features, const std::string& scope) const;
  // §4.1.4.3.1: device-configuration fields read until config_generation is stable.
  uint16_t cfg16(uint32_t off) const;
  uint32_t cfg32(uint32_t off) const;
  // queue_size of virtqueue `index`: the largest the device takes.
  uint16_t queue_max(uint16_t index) const;
  // §4.1.5.1.3: clears q, gives its rings to the device, maps it to MSI-X
  // `vector` and enables it. Returns the vector the device kept (NO_VECTOR when
  // it refused, §4.1.5.1.2).
  uint16_t setup_vq(Vq& q, uint16_t vector, Device& dev, const std::string& scope) const;
  // §2.7.13.4 / §4.1.4.4: notifies the device of new available buffers unless
  // it said it needs no notification (or `force`).
  void kick(Vq& q, bool force) const;

 private:
  uint32_t notify_mult_ = 0;
};

}  // namespace lr::vfio
