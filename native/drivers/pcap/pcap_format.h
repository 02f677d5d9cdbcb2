// The pcap (libpcap savefile) format, as described by "PCAP Capture File
// Format", draft-ietf-opsawg-pcap-03 (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-03)
// and the pcap-savefile(5) manual page. Section names below refer to the draft.
//
// Only what this driver reads and writes is here: the File Header, the Packet
// Record header, and the constants that decide byte order, timestamp resolution
// and link type. pcapng is a different format and is not read (we recognise its
// magic only to say how to convert it).
#pragma once
#include <cstdint>

namespace lr::pcap {

// "General File Structure": a File Header, then zero or more Packet Records,
// each a fixed header followed by Captured Packet Length bytes of data. Every
// field is in the byte order of the host that wrote the file; a reader tells the
// order from how the magic number reads.

// "File Header", field "Magic Number": also chooses the resolution of the second
// timestamp field of every Packet Record.
constexpr uint32_t kMagicMicro = 0xa1b2c3d4;  // Timestamp (Microseconds)
constexpr uint32_t kMagicNano = 0xa1b23c4d;   // Timestamp (Nanoseconds)
// Not pcap: the Section Header Block type of pcapng, as it reads in either order
// (0x0a0d0d0a is a palindrome in bytes), so the error can say "convert it".
constexpr uint32_t kMagicPcapng = 0x0a0d0d0a;

// "File Header", fields "Major Version" and "Minor Version": 2.4 is the current
// version; every writer in use since the late 1990s produces it.
constexpr uint16_t kVersionMajor = 2;
constexpr uint16_t kVersionMinor = 4;

// "File Header", field "LinkType and additional information": the link type is
// the low 16 bits; the upper bits carry the optional FCS length flag, which we
// neither need nor set. LINKTYPE_ETHERNET = 1 (draft-ietf-opsawg-pcaplinktype).
constexpr uint32_t kLinkTypeMask = 0xffff;
constexpr uint32_t kLinkTypeEthernet = 1;

// No record may hold more than this: libpcap's own upper bound for a snapshot
// length (MAXIMUM_SNAPLEN). Anything bigger is a corrupt header, not a frame.
constexpr uint32_t kMaxRecordLen = 262144;

// "File Header": 24 octets.
struct FileHeader {
  uint32_t magic;          // Magic Number
  uint16_t version_major;  // Major Version
  uint16_t version_minor;  // Minor Version
  uint32_t reserved1;      // Reserved1 (once "thiszone"): written as 0, ignored on read
  uint32_t reserved2;      // Reserved2 (once "sigfigs"): written as 0, ignored on read
  uint32_t snaplen;        // SnapLen: no record's Captured Packet Length exceeds it
  uint32_t linktype;       // LinkType and additional information
};
static_assert(sizeof(FileHeader) == 24, "pcap File Header is 24 octets");

// "Packet Record": a 16-octet header, then the packet data.
struct RecordHeader {
  uint32_t ts_sec;    // Timestamp (Seconds) since 1970-01-01 00:00:00 UTC
  uint32_t ts_frac;   // Timestamp (Microseconds or nanoseconds), per the magic
  uint32_t incl_len;  // Captured Packet Length: bytes of data that follow
  uint32_t orig_len;  // Original Packet Length: the frame's length on the wire
};
static_assert(sizeof(RecordHeader) == 16, "pcap Packet Record header is 16 octets");

inline uint32_t bswap(uint32_t v) { return __builtin_bswap32(v); }
inline uint16_t bswap(uint16_t v) { return __builtin_bswap16(v); }

// Brings a header written on a host of the other byte order into ours.
inline void swap_fields(FileHeader& h) {
  h.magic = bswap(h.magic);
  h.version_major = bswap(h.version_major);
  h.version_minor = bswap(h.version_minor);
  h.reserved1 = bswap(h.reserved1);
  h.reserved2 = bswap(h.reserved2);
  h.snaplen = bswap(h.snaplen);
  h.linktype = bswap(h.linktype);
}
inline void swap_fields(RecordHeader& r) {
  r.ts_sec = bswap(r.ts_sec);
  r.ts_frac = bswap(r.ts_frac);
  r.incl_len = bswap(r.incl_len);
  r.orig_len = bswap(r.orig_len);
}

}  // namespace lr::pcap
