#include "drivers/pcap/pcap_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "drivers/pcap/pcap_format.h"

namespace lr::pcap {

namespace {

constexpr const char* kRepairHint =
    "the capture was cut short (the writer was killed, or the copy is incomplete); "
    "repair it with `editcap -F pcap in.pcap out.pcap` or `tshark -r in.pcap -F pcap -w out.pcap`, "
    "which keep every complete record (-F pcap: both write pcapng otherwise)";

std::string hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

// "record 3 (byte offset 1234)": numbered from 1, as Wireshark numbers frames,
// so the message matches what `tshark -r` shows for the same file.
std::string where(const std::string& path, size_t i, uint64_t off) {
  return "pcap file '" + path + "': record " + std::to_string(i + 1) + " (byte offset " + std::to_string(off) + ")";
}

}  // namespace

PcapReader::PcapReader(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("FILE_OPEN", "cannot open pcap file '" + path + "' for reading: " + errno_text(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = fstat(fd, &st) != 0 ? errno : 0;
    ::close(fd);
    fail("FILE_OPEN", "pcap file '" + path + "' is not a regular file" + (err ? ": " + errno_text(err) : std::string()));
  }
  size_ = size_t(st.st_size);
  dev_ = uint64_t(st.st_dev);
  ino_ = uint64_t(st.st_ino);
  if (size_ < sizeof(FileHeader)) {
    ::close(fd);
    fail("PCAP_FORMAT", "pcap file '" + path + "' is " + std::to_string(size_) +
                            " bytes, shorter than the 24-byte pcap File Header; it is empty or not a capture");
  }
  // MAP_POPULATE reads the file in now, at addPort, instead of taking page
  // faults on the lcore during the run. The mapping keeps the file alive after
  // close(); it must not be truncated while mapped (that would SIGBUS), which
  // is why the driver refuses a txFile that is this same file.
  void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) fail("FILE_OPEN", "cannot map pcap file '" + path + "': " + errno_text(err));
  map_ = static_cast<const uint8_t*>(p);
  madvise(p, size_, MADV_SEQUENTIAL);
  try {
    index(path);
  } catch (...) {
    munmap(const_cast<uint8_t*>(map_), size_);
    map_ = nullptr;
    throw;
  }
}

PcapReader::~PcapReader() {
  if (map_) munmap(const_cast<uint8_t*>(map_), size_);
}

void PcapReader::index(const std::string& path) {
  FileHeader h;
  std::memcpy(&h, map_, sizeof h);
  // "File Header", Magic Number: read in our order it is one of the two magics;
  // read the other way round, the file was written with the other byte order.
  if (h.magic == kMagicMicro || h.magic == kMagicNano) {
    swapped_ = false;
  } else if (bswap(h.magic) == kMagicMicro || bswap(h.magic) == kMagicNano) {
    swapped_ = true;
    swap_fields(h);
  } else if (h.magic == kMagicPcapng) {
    fail("PCAP_FORMAT", "'" + path + "' is a pcapng file; the pcap driver reads classic pcap. Convert it with "
                        "`editcap -F pcap " + path + " out.pcap` (or `tshark -r in.pcapng -F pcap -w out.pcap`)");
  } else {
    fail("PCAP_FORMAT", "'" + path + "' is not a pcap file: its magic number is " + hex32(h.magic) +
                            ", expected 0xa1b2c3d4 or 0xa1b23c4d in either byte order");
  }
  nano_ = h.magic == kMagicNano;
  if (h.version_major != kVersionMajor || h.version_minor != kVersionMinor)
    fail("PCAP_FORMAT", "pcap file '" + path + "' has format version " + std::to_string(h.version_major) + "." +
                            std::to_string(h.version_minor) + "; only 2.4 is read. Rewrite it with `editcap -F pcap " +
                            path + " out.pcap`");
  const uint32_t link = h.linktype & kLinkTypeMask;
  if (link != kLinkTypeEthernet)
    fail("PCAP_LINKTYPE", "pcap file '" + path + "' has link type " + std::to_string(link) +
                              "; the pcap driver replays Ethernet frames only (LINKTYPE_ETHERNET = 1). "
                              "Check the type with `capinfos -E " + path + "`");

  const uint64_t frac_ns = nano_ ? 1 : 1000;
  uint64_t off = sizeof(FileHeader);
  while (off < size_) {
    const size_t i = recs_.size();
    if (size_ - off < sizeof(RecordHeader))
      fail("PCAP_TRUNCATED", where(path, i, off) + ": only " + std::to_string(size_ - off) +
                                 " of the 16 bytes of its record header are present; " + kRepairHint);
    RecordHeader r;
    std::memcpy(&r, map_ + off, sizeof r);
    if (swapped_) swap_fields(r);
    // "Packet Record": Captured Packet Length never exceeds Original Packet
    // Length, and no writer stores more than kMaxRecordLen; either means the
    // header is garbage, and so is everything after it.
    if (r.incl_len > r.orig_len || r.incl_len > kMaxRecordLen)
      fail("PCAP_FORMAT", where(path, i, off) + " is corrupt: captured length " + std::to_string(r.incl_len) +
                              ", original length " + std::to_string(r.orig_len) + " (at most " +
                              std::to_string(kMaxRecordLen) + " and never more than the original). " +
                              "`tshark -r " + path + "` shows how far the file is readable");
    const uint64_t data = off + sizeof(RecordHeader);
    if (r.incl_len > size_ - data)
      fail("PCAP_TRUNCATED", where(path, i, off) + " says " + std::to_string(r.incl_len) + " bytes of data but only " +
                                 std::to_string(size_ - data) + " remain in the file; " + kRepairHint);
    recs_.push_back({data, uint64_t(r.ts_sec) * 1000000000ull + uint64_t(r.ts_frac) * frac_ns, r.incl_len});
    if (r.incl_len > largest_) largest_ = r.incl_len;
    off = data + r.incl_len;
  }
}

}  // namespace lr::pcap
