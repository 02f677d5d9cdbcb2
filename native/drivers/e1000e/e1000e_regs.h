// Intel 82574 GbE Controller (82574L/82574IT, "e1000e"): the registers and
// descriptor formats this driver uses.
//
// Source: Intel 82574 GbE Controller Family Datasheet (document 317694),
//   §4.6   Software initialization sequence (reset, link, receive and transmit setup)
//   §7.1   Receive functionality: §7.1.4 extended receive descriptor, §7.1.10 RSS
//   §7.2   Transmit functionality: §7.2.10.1 legacy transmit descriptor
//   §10.2  Register descriptions (offsets below; each register's subsection is named)
// Where QEMU's model (hw/net/e1000e_core.c) narrows the datasheet, the comment says so:
// the test bed runs on it.
#pragma once
#include <cstdint>

namespace lr::e1000e {

constexpr uint16_t kVendorIntel = 0x8086;
constexpr uint16_t kDevice82574L = 0x10d3;   // §1.3 / PCI device IDs
constexpr uint16_t kDevice82574LA = 0x10f6;

// ---- §10.2.2 General registers (BAR 0, memory mapped, 128 KiB).
constexpr uint32_t CTRL = 0x00000;      // §10.2.2.1 Device Control
constexpr uint32_t STATUS = 0x00008;    // §10.2.2.2 Device Status
constexpr uint32_t EECD = 0x00010;      // §10.2.2.3 EEPROM/Flash Control
constexpr uint32_t EERD = 0x00014;      // §10.2.2.4 EEPROM Read
constexpr uint32_t CTRL_EXT = 0x00018;  // §10.2.2.5 Extended Device Control
constexpr uint32_t MDIC = 0x00020;      // §10.2.2.7 MDI Control (PHY access)

// CTRL bits (§10.2.2.1)
constexpr uint32_t CTRL_FD = 1u << 0;                   // full duplex
constexpr uint32_t CTRL_GIO_MASTER_DISABLE = 1u << 2;   // stop issuing master requests
constexpr uint32_t CTRL_ASDE = 1u << 5;                 // auto-speed detection
constexpr uint32_t CTRL_SLU = 1u << 6;                  // set link up
constexpr uint32_t CTRL_FRCSPD = 1u << 11;              // force speed
constexpr uint32_t CTRL_FRCDPX = 1u << 12;              // force duplex
constexpr uint32_t CTRL_RST = 1u << 26;                 // device reset (self-clearing)
constexpr uint32_t CTRL_PHY_RST = 1u << 31;             // PHY reset

// STATUS bits (§10.2.2.2)
constexpr uint32_t STATUS_FD = 1u << 0;
constexpr uint32_t STATUS_LU = 1u << 1;                 // link up
constexpr uint32_t STATUS_SPEED_SHIFT = 6;              // 00 10, 01 100, 1x 1000 Mb/s
constexpr uint32_t STATUS_GIO_MASTER_ENABLE = 1u << 19; // master requests pending

// EERD (§10.2.2.4): start bit 0, done bit 1, word address 15:2, data 31:16.
constexpr uint32_t EERD_START = 1u << 0;
constexpr uint32_t EERD_DONE = 1u << 1;
constexpr uint32_t EERD_ADDR_SHIFT = 2;
constexpr uint32_t EERD_DATA_SHIFT = 16;

// CTRL_EXT (§10.2.2.5)
constexpr uint32_t CTRL_EXT_IAME = 1u << 27;      // ICR read/write writes IAM to IMC: kept clear (see EIAC below)
constexpr uint32_t CTRL_EXT_DRV_LOAD = 1u << 28;  // a driver owns the device (for manageability firmware)
constexpr uint32_t CTRL_EXT_PBA_SUPPORT = 1u << 31;  // MSI-X mode: setting an IMS bit clears its vector's PBA bit; set with MSI-X

// MDIC (§10.2.2.7): data 15:0, PHY register 20:16, PHY address 25:21 (the 82574's PHY is 1),
// opcode 27:26 (01 write, 10 read), ready 28, error 30.
constexpr uint32_t MDIC_REG_SHIFT = 16;
constexpr uint32_t MDIC_PHY_SHIFT = 21;
constexpr uint32_t MDIC_OP_WRITE = 1u << 26;
constexpr uint32_t MDIC_OP_READ = 2u << 26;
constexpr uint32_t MDIC_READY = 1u << 28;
constexpr uint32_t MDIC_ERROR = 1u << 30;
constexpr uint32_t PHY_CTRL = 0;                  // IEEE 802.3 clause 22 control register
constexpr uint16_t PHY_CTRL_RESTART_AN = 1u << 9;
constexpr uint16_t PHY_CTRL_AN_ENABLE = 1u << 12;

// ---- §10.2.4 Interrupt registers (§7.4 Interrupts). linerate polls: everything
// masked, except the rx queue causes an idle lcore unmasks (IMS) just before it
// blocks on the queue's MSI-X eventfd (adaptive idle), and masks again (IMC) when it wakes.
constexpr uint32_t ICR = 0x000c0;  // §10.2.4.1 Interrupt Cause Read (clear on read; writing 1s clears those bits)
constexpr uint32_t ITR = 0x000c4;  // §10.2.4.2 Interrupt Throttling
constexpr uint32_t IMS = 0x000d0;  // §10.2.4.4 Interrupt Mask Set
constexpr uint32_t IMC = 0x000d8;  // §10.2.4.5 Interrupt Mask Clear
constexpr uint32_t EIAC = 0x000dc; // §10.2.4.6 Extended Interrupt Auto Clear
constexpr uint32_t IAM = 0x000e0;  // §10.2.4.7 Interrupt Acknowledge Auto-Mask
constexpr uint32_t IVAR = 0x000e4; // §10.2.4.9 Interrupt Vector Allocation (MSI-X)
// ICR/IMS causes used with MSI-X (§10.2.4.1): per-queue bits 20-24.
constexpr uint32_t ICR_RXQ0 = 1u << 20;
constexpr uint32_t ICR_RXQ1 = 1u << 21;
constexpr uint32_t ICR_TXQ0 = 1u << 22;
constexpr uint32_t ICR_TXQ1 = 1u << 23;
constexpr uint32_t ICR_OTHER = 1u << 24;
// IVAR (§10.2.4.9; §7.4 "Interrupts", MSI-X mode): 4-bit entries RxQ0 3:0,
// RxQ1 7:4, TxQ0 11:8, TxQ1 15:12, other 19:16; in each, bits 2:0 the vector
// (0-4, the 82574 has 5) and bit 3 "valid". Entries left invalid send no message.
constexpr uint32_t IVAR_VALID = 0x8;
constexpr uint32_t IVAR_RXQ_SHIFT = 4;  // RxQ n's entry starts at bit 4n
// EIAC (§10.2.4.6): a cause bit set here (bits 24:20) is cleared in ICR *and in
// IMS* once its MSI-X message is sent: auto-clear plus auto-mask, so a queue
// raises one interrupt per unmask however many packets follow (the datasheet's
// MSI-X mode; QEMU's model does the same while CTRL_EXT.IAME is clear).

// ---- §10.2.5 Receive registers.
constexpr uint32_t RCTL = 0x00100;    // §10.2.5.1 Receive Control
constexpr uint32_t RDBAL0 = 0x02800;  // §10.2.5.6 Rx Descriptor Base Address Low (queue n: + n*0x100)
constexpr uint32_t RDBAH0 = 0x02804;  // §10.2.5.7 ... High
constexpr uint32_t RDLEN0 = 0x02808;  // §10.2.5.8 Rx Descriptor Length: bytes, a multiple of 128
constexpr uint32_t RDH0 = 0x02810;    // §10.2.5.9 Rx Descriptor Head
constexpr uint32_t RDT0 = 0x02818;    // §10.2.5.10 Rx Descriptor Tail
constexpr uint32_t RDTR = 0x02820;    // §10.2.5.11 Rx Interrupt Delay Timer
constexpr uint32_t RXDCTL0 = 0x02828; // §10.2.5.12 Rx Descriptor Control
constexpr uint32_t RADV = 0x0282c;    // §10.2.5.13 Rx Interrupt Absolute Delay
constexpr uint32_t RXCSUM = 0x05000;  // §10.2.5.15 Rx Checksum Control
constexpr uint32_t RFCTL = 0x05008;   // §10.2.5.16 Rx Filter Control
constexpr uint32_t MTA = 0x05200;     // §10.2.5.17 Multicast Table Array, 128 registers
constexpr uint32_t RAL0 = 0x05400;    // §10.2.5.18 Receive Address Low
constexpr uint32_t RAH0 = 0x05404;    // §10.2.5.19 Receive Address High
constexpr uint32_t MRQC = 0x05818;    // §10.2.5.23 Multiple Receive Queues Command
constexpr uint32_t RETA = 0x05c00;    // §10.2.5.24 Redirection Table, 128 one-byte entries
constexpr uint32_t RSSRK = 0x05c80;   // §10.2.5.25 RSS Random Key, 40 bytes
constexpr uint32_t kQueueStride = 0x100;

// RCTL bits (§10.2.5.1)
constexpr uint32_t RCTL_EN = 1u << 1;
constexpr uint32_t RCTL_SBP = 1u << 2;    // store bad packets
constexpr uint32_t RCTL_UPE = 1u << 3;    // unicast promiscuous
constexpr uint32_t RCTL_MPE = 1u << 4;    // multicast promiscuous
constexpr uint32_t RCTL_LPE = 1u << 5;    // long packets (> 1522) accepted
constexpr uint32_t RCTL_BAM = 1u << 15;   // accept broadcast
constexpr uint32_t RCTL_BSIZE_SHIFT = 16; // with BSEX=0: 00 2048, 01 1024, 10 512, 11 256 bytes
constexpr uint32_t RCTL_SECRC = 1u << 26; // strip the Ethernet CRC

// RXCSUM (§10.2.5.15)
constexpr uint32_t RXCSUM_IPOFLD = 1u << 8;  // IP checksum offload
constexpr uint32_t RXCSUM_TUOFLD = 1u << 9;  // TCP/UDP checksum offload
constexpr uint32_t RXCSUM_PCSD = 1u << 13;   // packet checksum disable: the descriptor carries the RSS hash

// RFCTL (§10.2.5.16)
constexpr uint32_t RFCTL_NFSW_DIS = 1u << 6;
constexpr uint32_t RFCTL_NFSR_DIS = 1u << 7;
constexpr uint32_t RFCTL_ISCSI_DIS = 1u << 0;
constexpr uint32_t RFCTL_EXTEN = 1u << 15;   // extended receive descriptors (§7.1.4)

// MRQC (§10.2.5.23): bits 1:0 = 01 enables RSS; bits 16-21 pick the hashed fields.
// The 82574 hashes TCP ports, never UDP ports (also in QEMU's model): UDP flows
// spread by their IP addresses only.
constexpr uint32_t MRQC_RSS_ENABLE = 0x1;
constexpr uint32_t MRQC_TCPIPV4 = 1u << 16;
constexpr uint32_t MRQC_IPV4 = 1u << 17;
constexpr uint32_t MRQC_TCPIPV6 = 1u << 18;
constexpr uint32_t MRQC_IPV6EX = 1u << 19;
constexpr uint32_t MRQC_IPV6 = 1u << 20;
// RETA (§10.2.5.24): entry = hash[6:0]; bit 7 of the entry is the queue (0 or 1).
constexpr uint8_t RETA_QUEUE1 = 0x80;

// ---- §10.2.6 Transmit registers.
constexpr uint32_t TCTL = 0x00400;     // §10.2.6.1 Transmit Control
constexpr uint32_t TIPG = 0x00410;     // §10.2.6.3 Transmit IPG
constexpr uint32_t TDBAL0 = 0x03800;   // §10.2.6.6 Tx Descriptor Base Low (queue n: + n*0x100)
constexpr uint32_t TDBAH0 = 0x03804;   // §10.2.6.7
constexpr uint32_t TDLEN0 = 0x03808;   // §10.2.6.8 bytes, multiple of 128
constexpr uint32_t TDH0 = 0x03810;     // §10.2.6.9
constexpr uint32_t TDT0 = 0x03818;     // §10.2.6.10
constexpr uint32_t TXDCTL0 = 0x03828;  // §10.2.6.13 Tx Descriptor Control
constexpr uint32_t TARC0 = 0x03840;    // §10.2.6.16 Tx Arbitration Count (queue n: + n*0x100)

constexpr uint32_t TCTL_EN = 1u << 1;
constexpr uint32_t TCTL_PSP = 1u << 3;           // pad short packets to 64 bytes
constexpr uint32_t TCTL_CT_SHIFT = 4;            // collision threshold (IEEE: 15)
constexpr uint32_t TCTL_COLD_SHIFT = 12;         // collision distance (full duplex: 63)
constexpr uint32_t TCTL_RTLC = 1u << 24;         // retransmit on late collision
constexpr uint32_t TIPG_DEFAULT = 8 | (8u << 10) | (6u << 20);  // IPGT 8, IPGR1 8, IPGR2 6 (copper)
constexpr uint32_t TXDCTL_GRAN = 1u << 24;       // thresholds in descriptors
constexpr uint32_t TXDCTL_COUNT_DESC = 1u << 22; // must be 1 (§10.2.6.13)
constexpr uint32_t TARC_ENABLE = 1u << 10;       // the queue takes part in arbitration: it transmits

// ---- §10.2.7 Statistics registers: 32-bit, clear on read; 64-bit ones are a
// low/high pair, read low first (reading high clears both).
struct StatReg {
  const char* name;
  uint32_t reg;
  bool pair;
};
constexpr StatReg kStats[] = {
    {"rx_crc_errors", 0x04000, false},       // CRCERRS
    {"rx_missed", 0x04010, false},           // MPC: dropped, no room in the packet buffer
    {"rx_no_buffer", 0x040a0, false},        // RNBC: no receive descriptor was free
    {"rx_undersize", 0x040a4, false},        // RUC
    {"rx_oversize", 0x040ac, false},         // ROC
    {"rx_good_packets", 0x04074, false},     // GPRC
    {"rx_broadcast_packets", 0x04078, false},// BPRC
    {"rx_multicast_packets", 0x0407c, false},// MPRC
    {"rx_good_bytes", 0x04088, true},        // GORCL/GORCH
    {"rx_total_packets", 0x040d0, false},    // TPR
    {"tx_good_packets", 0x04080, false},     // GPTC
    {"tx_good_bytes", 0x04090, true},        // GOTCL/GOTCH
    {"tx_total_packets", 0x040d4, false},    // TPT
    {"tx_broadcast_packets", 0x040f4, false},// BPTC
    {"tx_multicast_packets", 0x040f0, false},// MPTC
};

// ---- §7.1.4 Extended receive descriptor (RFCTL.EXTEN = 1), 16 bytes.
// Read format: buffer address, then a zero quadword (its bit 0 lands on DD).
// Write-back format: MRQ (RSS type 3:0, queue 12:8), RSS hash (RXCSUM.PCSD=1),
// extended status 19:0 + errors 31:20, length, VLAN tag.
union RxDesc {
  struct {
    uint64_t buffer_addr;
    uint64_t zero;
  } read;
  struct {
    uint32_t mrq;
    uint32_t rss_hash;
    uint32_t status_error;
    uint16_t length;
    uint16_t vlan;
  } wb;
};
static_assert(sizeof(RxDesc) == 16, "82574 rx descriptor");
constexpr uint32_t RXD_STAT_DD = 1u << 0;   // descriptor done
constexpr uint32_t RXD_STAT_EOP = 1u << 1;  // end of packet
constexpr uint32_t RXD_STAT_UDPCS = 1u << 4;
constexpr uint32_t RXD_STAT_TCPCS = 1u << 5;
constexpr uint32_t RXD_STAT_IPCS = 1u << 6;
// Errors (§7.1.4.x extended errors, bits 31:20 of status_error): CE 24 (CRC/align),
// SE 25 (symbol), SEQ 26, CXE 28, TCPE 29 (L4 checksum), IPE 30 (IP checksum), RXE 31.
constexpr uint32_t RXD_ERR_FRAME = (1u << 24) | (1u << 25) | (1u << 26) | (1u << 28) | (1u << 31);
constexpr uint32_t RXD_ERR_TCPE = 1u << 29;
constexpr uint32_t RXD_ERR_IPE = 1u << 30;
constexpr uint32_t RXD_MRQ_RSS_TYPE_MASK = 0xf;  // 0: no hash computed

// ---- §7.2.10.1 Legacy transmit descriptor, 16 bytes.
// lower: length 15:0, CSO 23:16, CMD 31:24; upper: STA 3:0, CSS 15:8, special 31:16.
struct TxDesc {
  uint64_t buffer_addr;
  uint32_t lower;
  uint32_t upper;
};
static_assert(sizeof(TxDesc) == 16, "82574 tx descriptor");
constexpr uint32_t TXD_CMD_EOP = 1u << 24;   // end of packet
constexpr uint32_t TXD_CMD_IFCS = 1u << 25;  // insert FCS
constexpr uint32_t TXD_CMD_RS = 1u << 27;    // report status: write DD back
constexpr uint32_t TXD_STAT_DD = 1u << 0;    // in upper: descriptor done

}  // namespace lr::e1000e
