// PcapReader: a whole pcap file, mapped read-only and indexed once.
//
// Everything that can be wrong with the file is found in the constructor, so a
// bad capture fails at addPort with a code and a fix rather than halfway through
// a run. After that, reading a record is an index into a vector and a pointer
// into the mapping: no syscalls and no byte swapping on the rx path.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lr::pcap {

class PcapReader {
 public:
  struct Record {
    uint64_t offset;  // of the packet data, from the start of the file
    uint64_t ts_ns;   // record timestamp, nanoseconds since the epoch
    uint32_t len;     // Captured Packet Length
  };

  // Maps and validates path. Throws lr::Error: FILE_OPEN, PCAP_FORMAT,
  // PCAP_LINKTYPE, PCAP_TRUNCATED.
  explicit PcapReader(const std::string& path);
  ~PcapReader();
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  size_t records() const { return recs_.size(); }
  const Record& record(size_t i) const { return recs_[i]; }
  const uint8_t* data(const Record& r) const { return map_ + r.offset; }

  uint32_t largest() const { return largest_; }  // largest Captured Packet Length
  bool nanosecond() const { return nano_; }
  bool swapped() const { return swapped_; }      // written on a host of the other byte order
  uint64_t file_bytes() const { return size_; }
  // Identity of the mapped file, so a writer never truncates the file we read.
  uint64_t dev() const { return dev_; }
  uint64_t ino() const { return ino_; }

 private:
  void index(const std::string& path);

  const uint8_t* map_ = nullptr;
  size_t size_ = 0;
  uint64_t dev_ = 0, ino_ = 0;
  bool nano_ = false, swapped_ = false;
  uint32_t largest_ = 0;
  std::vector<Record> recs_;
};

}  // namespace lr::pcap
