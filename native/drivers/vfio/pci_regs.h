// PCI configuration space registers the vfio layer touches. Offsets and bits
// from the PCI Local Bus Specification 3.0 (§6.1 "Configuration Space
// Organization", §6.2 "Configuration Space Functions", §6.7 "Capabilities
// List", §6.8.2 "MSI-X Capability and Table Structure").
#pragma once
#include <cstdint>

namespace lr::pci {

// §6.1, Figure 6-1: the type 0 header.
constexpr uint32_t kVendorId = 0x00;  // 16 bits
constexpr uint32_t kDeviceId = 0x02;  // 16 bits
constexpr uint32_t kCommand = 0x04;   // 16 bits, §6.2.2
constexpr uint32_t kStatus = 0x06;    // 16 bits, §6.2.3
constexpr uint32_t kRevision = 0x08;
constexpr uint32_t kClassCode = 0x09;  // 24 bits: prog-if, subclass, base class
constexpr uint32_t kBar0 = 0x10;       // §6.2.5.1, six 32-bit BARs
constexpr uint32_t kSubsystemId = 0x2e;
constexpr uint32_t kCapPointer = 0x34;  // §6.7: first capability, low 2 bits reserved

// §6.2.2 Command register bits.
constexpr uint16_t kCommandIo = 1u << 0;            // I/O Space enable
constexpr uint16_t kCommandMemory = 1u << 1;        // Memory Space enable
constexpr uint16_t kCommandBusMaster = 1u << 2;     // Bus Master enable: the device may DMA
constexpr uint16_t kCommandIntxDisable = 1u << 10;  // Interrupt Disable (INTx)

// §6.2.3 Status register: bit 4 = a capabilities list is present.
constexpr uint16_t kStatusCapList = 1u << 4;

// §6.7, Appendix H: capability IDs.
constexpr uint8_t kCapIdPm = 0x01;
constexpr uint8_t kCapIdMsi = 0x05;
constexpr uint8_t kCapIdVendor = 0x09;  // virtio 1.x uses these (virtio spec §4.1.4)
constexpr uint8_t kCapIdPcie = 0x10;
constexpr uint8_t kCapIdMsix = 0x11;

// §6.8.2.3 MSI-X Message Control (offset 2 in the capability).
constexpr uint16_t kMsixTableSizeMask = 0x07ff;  // N-1
constexpr uint16_t kMsixFunctionMask = 1u << 14;
constexpr uint16_t kMsixEnable = 1u << 15;

}  // namespace lr::pci
