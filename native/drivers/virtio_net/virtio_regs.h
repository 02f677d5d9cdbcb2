// virtio 1.x over PCI, network device: the structures and bits this driver uses.
//
// Source: Virtual I/O Device (VIRTIO) Version 1.2, OASIS Committee Specification
// (section numbers are those of 1.2; 1.1 numbers the same sections alike up to §5.1):
//   §2.1   Device Status Field
//   §2.2   Feature Bits              §6  Reserved Feature Bits (VERSION_1, ACCESS_PLATFORM)
//   §2.7   Split Virtqueues: §2.7.5 descriptor table, §2.7.6 available ring, §2.7.8 used ring,
//          §2.7.13 supplying buffers, §2.7.14 receiving used buffers
//   §3.1.1 Driver Requirements: Device Initialization
//   §4.1.4 Virtio Structure PCI Capabilities: §4.1.4.3 common configuration,
//          §4.1.4.4 notification, §4.1.4.5 ISR, §4.1.4.6 device-specific configuration
//   §4.1.5 PCI-specific initialization: §4.1.5.1.2 MSI-X vector configuration,
//          §4.1.5.3 used buffer notifications
//   §5.1   Network Device: §5.1.3 feature bits, §5.1.4 configuration layout, §5.1.6 packets
//          (§5.1.6.1 header), §5.1.6.4 processing of incoming packets, §5.1.6.5 control
//          virtqueue (§5.1.6.5.1 rx mode, §5.1.6.5.6 automatic steering (VQ_PAIRS_SET),
//          §5.1.6.5.7 receive-side scaling (RSS_CONFIG))
#pragma once
#include <cstdint>

namespace lr::virtio {

// §4.1.2 PCI Device Discovery: 0x1041 = 0x1040 + device ID 1 (network), modern;
// 0x1000 = transitional network device (also has the modern capabilities).
constexpr uint16_t kVendor = 0x1af4;
constexpr uint16_t kDeviceNetModern = 0x1041;
constexpr uint16_t kDeviceNetTransitional = 0x1000;

// §4.1.4 struct virtio_pci_cap (in a vendor-specific PCI capability, ID 0x09).
constexpr uint32_t CAP_CFG_TYPE = 3;  // u8
constexpr uint32_t CAP_BAR = 4;       // u8
constexpr uint32_t CAP_OFFSET = 8;    // le32
constexpr uint32_t CAP_LENGTH = 12;   // le32
constexpr uint32_t CAP_NOTIFY_MULTIPLIER = 16;  // le32, notify capability only (§4.1.4.4)
constexpr uint8_t PCI_CAP_COMMON_CFG = 1;
constexpr uint8_t PCI_CAP_NOTIFY_CFG = 2;
constexpr uint8_t PCI_CAP_ISR_CFG = 3;
constexpr uint8_t PCI_CAP_DEVICE_CFG = 4;

// §4.1.4.3 struct virtio_pci_common_cfg
constexpr uint32_t COMMON_DFSELECT = 0x00;   // le32 device_feature_select
constexpr uint32_t COMMON_DF = 0x04;         // le32 device_feature
constexpr uint32_t COMMON_GFSELECT = 0x08;   // le32 driver_feature_select
constexpr uint32_t COMMON_GF = 0x0c;         // le32 driver_feature
constexpr uint32_t COMMON_MSIX = 0x10;       // le16 config_msix_vector
constexpr uint32_t COMMON_NUMQ = 0x12;       // le16 num_queues
constexpr uint32_t COMMON_STATUS = 0x14;     // u8 device_status
constexpr uint32_t COMMON_CFGGEN = 0x15;     // u8 config_generation
constexpr uint32_t COMMON_Q_SELECT = 0x16;   // le16 queue_select
constexpr uint32_t COMMON_Q_SIZE = 0x18;     // le16 queue_size
constexpr uint32_t COMMON_Q_MSIX = 0x1a;     // le16 queue_msix_vector
constexpr uint32_t COMMON_Q_ENABLE = 0x1c;   // le16 queue_enable
constexpr uint32_t COMMON_Q_NOFF = 0x1e;     // le16 queue_notify_off
constexpr uint32_t COMMON_Q_DESC = 0x20;     // le64 queue_desc
constexpr uint32_t COMMON_Q_DRIVER = 0x28;   // le64 queue_driver (available ring)
constexpr uint32_t COMMON_Q_DEVICE = 0x30;   // le64 queue_device (used ring)
// §4.1.5.1.2: config_msix_vector / queue_msix_vector take an MSI-X table entry
// (0..table size-1) or NO_VECTOR; a read-back of NO_VECTOR means the device
// refused the mapping. Reset unmaps everything.
constexpr uint16_t NO_VECTOR = 0xffff;       // VIRTIO_MSI_NO_VECTOR

// §2.1 device status bits
constexpr uint8_t STATUS_ACKNOWLEDGE = 1;
constexpr uint8_t STATUS_DRIVER = 2;
constexpr uint8_t STATUS_DRIVER_OK = 4;
constexpr uint8_t STATUS_FEATURES_OK = 8;
constexpr uint8_t STATUS_NEEDS_RESET = 64;
constexpr uint8_t STATUS_FAILED = 128;

// §5.1.3 network feature bits and §6 reserved feature bits
constexpr int F_CSUM = 0;
constexpr int F_GUEST_CSUM = 1;
constexpr int F_MTU = 3;
constexpr int F_MAC = 5;
constexpr int F_MRG_RXBUF = 15;
constexpr int F_STATUS = 16;
constexpr int F_CTRL_VQ = 17;
constexpr int F_CTRL_RX = 18;
constexpr int F_MQ = 22;
constexpr int F_HASH_REPORT = 57;
constexpr int F_RSS = 60;
constexpr int F_SPEED_DUPLEX = 63;
constexpr int F_VERSION_1 = 32;        // §6: a virtio 1.x device
constexpr int F_ACCESS_PLATFORM = 33;  // §6: the device's DMA goes through the platform's IOMMU

// §5.1.4 struct virtio_net_config (device-specific configuration)
constexpr uint32_t NET_CFG_MAC = 0;               // u8[6], F_MAC
constexpr uint32_t NET_CFG_STATUS = 6;            // le16, F_STATUS
constexpr uint32_t NET_CFG_MAX_PAIRS = 8;         // le16, F_MQ or F_RSS
constexpr uint32_t NET_CFG_MTU = 10;              // le16, F_MTU
constexpr uint32_t NET_CFG_SPEED = 12;            // le32, F_SPEED_DUPLEX (Mb/s, ~0 unknown)
constexpr uint32_t NET_CFG_RSS_MAX_KEY = 17;      // u8, F_RSS: longest key, at least 40 (§5.1.4.1)
constexpr uint32_t NET_CFG_RSS_MAX_TABLE = 18;    // le16, F_RSS
constexpr uint32_t NET_CFG_SUPPORTED_HASH = 20;   // le32, F_RSS or F_HASH_REPORT
constexpr uint16_t NET_S_LINK_UP = 1;

// §5.1.6.1 struct virtio_net_hdr: 12 bytes with VERSION_1 (num_buffers is always
// there), 20 with F_HASH_REPORT (hash_value, hash_report, padding).
struct NetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
  uint16_t num_buffers;
  uint32_t hash_value;
  uint16_t hash_report;
  uint16_t padding;
};
static_assert(sizeof(NetHdr) == 20, "virtio_net_hdr with hash report");
constexpr uint32_t kNetHdrSize = 12;
constexpr uint32_t kNetHdrHashSize = 20;
constexpr uint8_t HDR_F_NEEDS_CSUM = 1;  // csum_start/csum_offset say where to finish the checksum
constexpr uint8_t HDR_F_DATA_VALID = 2;  // the device checked the checksum
constexpr uint8_t HDR_GSO_NONE = 0;

// §2.7.5 struct virtq_desc, §2.7.6 struct virtq_avail, §2.7.8 struct virtq_used
struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == 16, "virtq_desc");
constexpr uint16_t DESC_F_NEXT = 1;
constexpr uint16_t DESC_F_WRITE = 2;  // device writes (rx buffers)
struct UsedElem {
  uint32_t id;
  uint32_t len;
};
// §2.7.7 Used Buffer Notification Suppression: set while the queue is polled;
// cleared by an idle lcore just before it blocks on the queue's MSI-X vector
// (VIRTIO_F_EVENT_IDX is not negotiated, so this flag is the mechanism).
constexpr uint16_t AVAIL_F_NO_INTERRUPT = 1;
constexpr uint16_t USED_F_NO_NOTIFY = 1;      // §2.7.10: the device needs no kick now
// Sizes: avail = 4 + 2*n (+2 used_event), used = 4 + 8*n (+2 avail_event); alignment
// 16 (descriptors), 2 (avail), 4 (used): §2.7 "Virtqueue alignment".

// §5.1.6.5 control virtqueue: class, command, data, then a device-written ack.
constexpr uint8_t CTRL_OK = 0;
constexpr uint8_t CTRL_RX = 0;               // §5.1.6.5.1
constexpr uint8_t CTRL_RX_PROMISC = 0;
constexpr uint8_t CTRL_RX_ALLMULTI = 1;
constexpr uint8_t CTRL_MQ = 4;               // §5.1.6.5.6
constexpr uint8_t CTRL_MQ_VQ_PAIRS_SET = 0;
constexpr uint8_t CTRL_MQ_RSS_CONFIG = 1;
// §5.1.6.4.3.1 hash types
constexpr uint32_t HASH_IPV4 = 1u << 0, HASH_TCPV4 = 1u << 1, HASH_UDPV4 = 1u << 2;
constexpr uint32_t HASH_IPV6 = 1u << 3, HASH_TCPV6 = 1u << 4, HASH_UDPV6 = 1u << 5;

}  // namespace lr::virtio
