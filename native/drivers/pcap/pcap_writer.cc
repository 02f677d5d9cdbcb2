#include "drivers/pcap/pcap_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/cycles.h"
#include "core/error.h"
#include "drivers/pcap/pcap_format.h"

namespace lr::pcap {

PcapWriter::PcapWriter(const std::string& path, uint32_t snaplen, size_t buffer_bytes)
    : snaplen_(snaplen), cap_(std::max(buffer_bytes, sizeof(RecordHeader) + kMaxRecordLen)) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("FILE_OPEN", "cannot create pcap file '" + path + "' for writing: " + errno_text(errno));
  buf_.reset(new uint8_t[cap_]);
  // "File Header". We always write nanosecond timestamps (the Magic Number says
  // so) in our own byte order, as the format intends: readers swap if needed.
  FileHeader h{};
  h.magic = kMagicNano;
  h.version_major = kVersionMajor;
  h.version_minor = kVersionMinor;
  h.reserved1 = 0;  // "SHOULD be filled with 0"
  h.reserved2 = 0;
  h.snaplen = snaplen_;
  h.linktype = kLinkTypeEthernet;  // no FCS information: frames carry no FCS
  std::memcpy(buf_.get(), &h, sizeof h);
  len_ = sizeof h;
  // Write the header now: an idle port still leaves a valid, empty capture, and
  // a file we cannot write fails at addPort rather than silently later.
  int err = 0;
  if (!write_all(buf_.get(), len_, err)) {
    ::close(fd_);
    fd_ = -1;
    fail("FILE_OPEN", "cannot write pcap file '" + path + "': " + errno_text(err));
  }
  committed_ = len_;
  len_ = 0;
  last_flush_ns_ = monotonic_ns();
}

PcapWriter::~PcapWriter() { close(); }

void PcapWriter::append(const uint8_t* data, uint32_t len, uint64_t ts_ns) {
  if (fd_ < 0) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const uint32_t incl = std::min(len, snaplen_);
  if (len_ + sizeof(RecordHeader) + incl > cap_) flush();
  // "Packet Record": with the nanosecond magic the second field is nanoseconds.
  RecordHeader r;
  r.ts_sec = uint32_t(ts_ns / 1000000000ull);
  r.ts_frac = uint32_t(ts_ns % 1000000000ull);
  r.incl_len = incl;
  r.orig_len = len;
  std::memcpy(buf_.get() + len_, &r, sizeof r);
  std::memcpy(buf_.get() + len_ + sizeof r, data, incl);
  len_ += sizeof r + incl;
  pending_bytes_ += incl;
  pending_.fetch_add(1, std::memory_order_relaxed);
}

void PcapWriter::flush_if_stale(uint64_t now_ns) {
  if (len_ && now_ns - last_flush_ns_ >= kFlushIntervalNs) flush();
}

bool PcapWriter::write_all(const uint8_t* p, size_t n, int& err) {
  // pwrite at our own offset: after a failure we cut the file back and go on
  // from there, with no file position to repair.
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::pwrite(fd_, p + done, n - done, off_t(committed_ + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = w < 0 ? errno : ENOSPC;  // a zero-byte write makes no progress: treat as a full disk
      return false;
    }
    done += size_t(w);
  }
  return true;
}

bool PcapWriter::flush() {
  last_flush_ns_ = monotonic_ns();
  if (len_ == 0 || fd_ < 0) return true;
  const uint64_t recs = pending_.load(std::memory_order_relaxed);
  int err = 0;
  const bool ok = write_all(buf_.get(), len_, err);
  if (ok) {
    committed_ += len_;
    written_.fetch_add(recs, std::memory_order_relaxed);
    written_bytes_.fetch_add(pending_bytes_, std::memory_order_relaxed);
  } else {
    // Drop the partial tail so the file still ends on a record boundary; if
    // even that fails the file is as good as the disk lets it be.
    const int rc = ::ftruncate(fd_, off_t(committed_));
    (void)rc;
    errors_.fetch_add(1, std::memory_order_relaxed);
    dropped_.fetch_add(recs, std::memory_order_relaxed);
  }
  len_ = 0;
  pending_bytes_ = 0;
  pending_.store(0, std::memory_order_relaxed);
  return ok;
}

void PcapWriter::close() {
  if (fd_ < 0) return;
  flush();
  ::close(fd_);
  fd_ = -1;
}

}  // namespace lr::pcap
