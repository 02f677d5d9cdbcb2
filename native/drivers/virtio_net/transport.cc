#include "drivers/virtio_net/transport.h"

#include "core/error.h"
#include "drivers/vfio/host.h"
#include "drivers/vfio/pci_regs.h"

namespace lr::vfio {

using namespace lr::virtio;

void Transport::find(Device& dev, const std::string& scope) {
  bool have_common = false, have_notify = false, have_device = false;
  for (uint32_t cap : dev.find_caps(pci::kCapIdVendor)) {
    const uint8_t type = dev.cfg_read8(cap + CAP_CFG_TYPE);
    const uint8_t bar = dev.cfg_read8(cap + CAP_BAR);
    if (bar > 5) continue;
    Window w;
    w.off = dev.cfg_read32(cap + CAP_OFFSET);
    w.len = dev.cfg_read32(cap + CAP_LENGTH);
    // §4.1.4: use the first capability of each type.
    if (type == PCI_CAP_COMMON_CFG && !have_common) {
      w.bar = &dev.bar(bar);
      common = w;
      have_common = true;
    } else if (type == PCI_CAP_NOTIFY_CFG && !have_notify) {
      w.bar = &dev.bar(bar);
      notify = w;
      notify_mult_ = dev.cfg_read32(cap + CAP_NOTIFY_MULTIPLIER);
      have_notify = true;
    } else if (type == PCI_CAP_DEVICE_CFG && !have_device) {
      w.bar = &dev.bar(bar);
      device = w;
      have_device = true;
    }
  }
  if (!have_common || !have_notify || !have_device)
    fail("DEVICE_UNSUPPORTED", scope + ": " + dev.pci() + " has no virtio 1.x PCI capabilities (common/notify/device); legacy virtio is not supported");
}

void Transport::reset(const std::string& scope) const {
  common.w8(COMMON_STATUS, 0);
  for (int i = 0; i < 1000; i++) {
    if (common.r8(COMMON_STATUS) == 0) return;
    sleep_us(100);
  }
  fail("DEVICE_TIMEOUT", scope + ": the virtio device did not finish its reset");
}

void Transport::set_status(uint8_t s) const { common.w8(COMMON_STATUS, s); }

uint64_t Transport::read_features() const {
  common.w32(COMMON_DFSELECT, 0);
  uint64_t f = common.r32(COMMON_DF);
  common.w32(COMMON_DFSELECT, 1);
  f |= uint64_t(common.r32(COMMON_DF)) << 32;
  return f;
}

void Transport::negotiate(uint64_t features, const std::string& scope) const {
  common.w32(COMMON_GFSELECT, 0);
  common.w32(COMMON_GF, uint32_t(features));
  common.w32(COMMON_GFSELECT, 1);
  common.w32(COMMON_GF, uint32_t(features >> 32));
  common.w8(COMMON_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
  if (!(common.r8(COMMON_STATUS) & STATUS_FEATURES_OK))
    fail("DEVICE_UNSUPPORTED", scope + ": the device refused the features " + hex(features) + " (FEATURES_OK not kept)");
}

uint16_t Transport::cfg16(uint32_t off) const {
  for (;;) {
    const uint8_t g0 = common.r8(COMMON_CFGGEN);
    const uint16_t v = device.r16(off);
    if (common.r8(COMMON_CFGGEN) == g0) return v;
  }
}

uint32_t Transport::cfg32(uint32_t off) const {
  for (;;) {
    const uint8_t g0 = common.r8(COMMON_CFGGEN);
    const uint32_t v = device.r32(off);
    if (common.r8(COMMON_CFGGEN) == g0) return v;
  }
}

uint16_t Transport::queue_max(uint16_t index) const {
  common.w16(COMMON_Q_SELECT, index);
  return common.r16(COMMON_Q_SIZE);
}

uint16_t Transport::setup_vq(Vq& q, uint16_t vector, Device& dev, const std::string& scope) const {
  common.w16(COMMON_Q_SELECT, q.index);
  if (common.r16(COMMON_Q_SIZE) < q.size) fail("DEVICE_UNSUPPORTED", scope + ": virtqueue " + std::to_string(q.index) + " is smaller than expected");
  q.clear();
  q.avail[0] = AVAIL_F_NO_INTERRUPT;
  common.w16(COMMON_Q_SIZE, q.size);
  common.w16(COMMON_Q_MSIX, vector);
  const uint16_t kept = common.r16(COMMON_Q_MSIX);
  common.w64(COMMON_Q_DESC, dev.iova(const_cast<Desc*>(q.desc)));
  common.w64(COMMON_Q_DRIVER, dev.iova(const_cast<uint16_t*>(q.avail)));
  common.w64(COMMON_Q_DEVICE, dev.iova(const_cast<uint16_t*>(q.used_hdr)));
  q.notify_off = uint32_t(common.r16(COMMON_Q_NOFF)) * notify_mult_;
  common.w16(COMMON_Q_ENABLE, 1);
  return kept;
}

void Transport::kick(Vq& q, bool force) const {
  dma_mb();  // avail->idx visible before reading used->flags
  if (!force && (q.used_hdr[0] & USED_F_NO_NOTIFY)) return;
  notify.w16(q.notify_off, q.index);
  q.kicks.add(1);
}

}  // namespace lr::vfio
