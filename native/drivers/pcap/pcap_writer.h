// PcapWriter: appends Packet Records to a nanosecond pcap file through a large
// user-space buffer, so the tx path makes one write() per megabyte, not one per
// packet.
//
// Not thread-safe: the driver serialises callers with its own mutex. The
// counters are atomics so stats can read them from any thread.
//
// The file on disk only ever ends on a record boundary: the buffer holds whole
// records, and a write that fails part-way is cut back (ftruncate) to the last
// complete record, so whatever happens the file stays readable by tshark.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace lr::pcap {

class PcapWriter {
 public:
  static constexpr size_t kDefaultBuffer = size_t(1) << 20;
  // A record waits in the buffer at most this long (checked on each append), so
  // a slow trickle of packets still reaches the file while the port runs.
  static constexpr uint64_t kFlushIntervalNs = 100 * 1000 * 1000;

  // Creates or truncates path and writes the File Header. Throws lr::Error
  // FILE_OPEN with the errno text when the file cannot be created or written.
  PcapWriter(const std::string& path, uint32_t snaplen, size_t buffer_bytes = kDefaultBuffer);
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  // Appends one record (cut to snaplen), timestamped ts_ns since the epoch.
  void append(const uint8_t* data, uint32_t len, uint64_t ts_ns);
  // Writes the buffer out if it is older than kFlushIntervalNs (monotonic now_ns).
  void flush_if_stale(uint64_t now_ns);
  // Writes the buffer out. False when write() failed: the buffered records are
  // dropped (counted) and the file is cut back to its last complete record.
  bool flush();
  // Flushes and closes the file. Later appends are counted as dropped.
  void close();
  bool is_open() const { return fd_ >= 0; }

  uint32_t snaplen() const { return snaplen_; }
  uint64_t written() const { return written_.load(std::memory_order_relaxed); }  // records in the file
  uint64_t written_bytes() const { return written_bytes_.load(std::memory_order_relaxed); }  // packet bytes in the file
  uint64_t pending() const { return pending_.load(std::memory_order_relaxed); }  // records in the buffer
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }    // failed writes
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }  // records lost to them

 private:
  bool write_all(const uint8_t* p, size_t n, int& err);

  int fd_ = -1;
  uint32_t snaplen_;
  std::unique_ptr<uint8_t[]> buf_;
  size_t cap_, len_ = 0;
  uint64_t committed_ = 0;        // bytes of the file that hold complete records
  uint64_t pending_bytes_ = 0;    // packet bytes in the buffer
  uint64_t last_flush_ns_ = 0;
  std::atomic<uint64_t> written_{0}, written_bytes_{0}, pending_{0}, errors_{0}, dropped_{0};
};

}  // namespace lr::pcap
