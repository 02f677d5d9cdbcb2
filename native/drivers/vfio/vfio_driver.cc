// The `vfio` driver: a PCI NIC bound to vfio-pci, driven from this process.
// Opens the device (drivers/vfio/vfio.h: preflight, container, group, reset),
// DMA-maps the engine's mempool once (IOVA = VA), and hands the device to the
// NIC model that matches its PCI IDs:
//   8086:10d3, 8086:10f6  Intel 82574L   -> drivers/e1000e
//   1af4:1041, 1af4:1000  virtio-net     -> drivers/virtio_net (modern, virtio 1.x)
// Options: pci (required), noIommu, rxRingSize, txRingSize, promiscuous.
#include <cstdio>

#include "drivers/driver.h"
#include "drivers/e1000e/e1000e_regs.h"
#include "drivers/vfio/nic.h"

namespace lr {

std::unique_ptr<Driver> make_vfio_driver(const Config& cfg, Mempool& pool, uint16_t port_id) {
  cfg.allow_only({"pci", "noIommu", "rxRingSize", "txRingSize", "promiscuous", "rxQueues"});
  if (!cfg.has("pci"))
    fail("INVALID_OPTION", cfg.scope + ": option 'pci' is required (the NIC's PCI address, e.g. '0000:00:03.0'); list NICs with: linerate devices");
  vfio::OpenOptions o;
  o.no_iommu = cfg.get_bool("noIommu", false);
  o.scope = cfg.scope;
  const std::string pci = cfg.get_string("pci", "");
  vfio::NicParams p;
  p.pool = &pool;
  p.port_id = port_id;
  p.scope = cfg.scope;
  p.rx_ring = uint32_t(cfg.get_uint("rxRingSize", 0, 0, 4096));
  p.tx_ring = uint32_t(cfg.get_uint("txRingSize", 0, 0, 4096));
  p.promiscuous = cfg.get_bool("promiscuous", false);
  if (o.no_iommu && pool.region().kind() == PageKind::Small)
    fail("HUGEPAGES_UNAVAILABLE", cfg.scope + ": noIommu needs the mempool on hugepages (DMA uses physical addresses); "
                                              "reserve some: echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
  p.dev = vfio::Device::open(pci, o);
  const uint16_t ven = p.dev->vendor_id(), dev = p.dev->device_id();
  char ids[16];
  snprintf(ids, sizeof ids, "%04x:%04x", ven, dev);
  // The whole mempool, once: every mbuf's data can then be given to the NIC as is.
  p.dev->dma_map(pool.base(), pool.region_bytes());
  if (ven == e1000e::kVendorIntel && (dev == e1000e::kDevice82574L || dev == e1000e::kDevice82574LA))
    return vfio::make_e1000e(std::move(p));
  if (ven == 0x1af4 && (dev == 0x1041 || dev == 0x1000)) return vfio::make_virtio_net(std::move(p));
  fail("DEVICE_UNSUPPORTED", cfg.scope + ": " + pci + " (" + ids +
                                 ") is not a NIC the vfio driver knows (Intel 82574L, virtio-net). For Intel 82599/X710/E810 and "
                                 "Mellanox NICs use the af_xdp driver on their kernel driver: linerate unbind " + pci);
}

}  // namespace lr
