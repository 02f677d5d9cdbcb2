// pcap: receive from a pcap file, transmit into one.
//
// rx replays a capture (rxFile): once, in a loop, or paced at the recorded
// inter-packet gaps. The whole file is mapped and checked when the port is
// added (pcap_reader.h), so rx_burst is a memcpy per packet and never a syscall.
// tx writes what it is given to a nanosecond pcap (txFile) through a 1 MiB
// buffer (pcap_writer.h) and frees the mbufs.
//
// Queues: one rx queue (max_rx_queues 1; the engine spreads it with software
// RSS). Any number of tx queues, possibly on different lcores: they share one
// file, so the writer sits behind a mutex. That is a lock on the tx path, which
// is acceptable here: a pcap port is for tests, replays and captures, bounded by
// the disk anyway, not a line-rate path.
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "core/counter.h"
#include "core/cycles.h"
#include "drivers/driver.h"
#include "drivers/pcap/pcap_format.h"
#include "drivers/pcap/pcap_reader.h"
#include "drivers/pcap/pcap_writer.h"

namespace lr {

namespace {

enum class Mode { Once, Loop, Pace };

class PcapDriver final : public Driver {
 public:
  PcapDriver(const Config& cfg, Mempool& pool, uint16_t port_id) : pool_(pool), port_id_(port_id) {
    // rxQueues is accepted for uniformity with other drivers; the engine reads
    // it and, seeing max_rx_queues 1, spreads our one queue itself.
    cfg.allow_only({"rxFile", "txFile", "mode", "rxQueues", "snaplen"});
    const std::string who = cfg.scope.empty() ? "pcap port" : cfg.scope;
    rx_path_ = cfg.get_string("rxFile", "");
    tx_path_ = cfg.get_string("txFile", "");
    mode_name_ = cfg.get_enum("mode", "once", {"once", "loop", "pace"});
    mode_ = mode_name_ == "loop" ? Mode::Loop : mode_name_ == "pace" ? Mode::Pace : Mode::Once;
    const uint32_t snaplen = uint32_t(cfg.get_uint("snaplen", 65535, 1, pcap::kMaxRecordLen));
    if (rx_path_.empty() && tx_path_.empty())
      fail("INVALID_OPTION", who + ": needs option 'rxFile' (a capture to replay), 'txFile' (a file to write "
                                   "transmitted packets to), or both");
    if (!rx_path_.empty()) {
      reader_ = std::make_unique<pcap::PcapReader>(rx_path_);
      records_ = reader_->records();
      check_frame_size();
    }
    if (!tx_path_.empty()) {
      // Opening txFile truncates it; if it is the file we just mapped, the
      // first rx would fault (SIGBUS). Compare identities, not spellings.
      struct stat st;
      if (reader_ && ::stat(tx_path_.c_str(), &st) == 0 && uint64_t(st.st_dev) == reader_->dev() &&
          uint64_t(st.st_ino) == reader_->ino())
        fail("INVALID_OPTION", who + ": 'txFile' and 'rxFile' are the same file ('" + tx_path_ +
                                   "'); writing would destroy the capture being replayed. Give txFile another name");
      writer_ = std::make_unique<pcap::PcapWriter>(tx_path_, snaplen);
    }
  }
  ~PcapDriver() override { close(); }

  DriverInfo info() const override {
    DriverInfo i;
    i.driver = "pcap";
    i.max_rx_queues = 1;
    i.hw_rss = false;
    i.mtu = pool_.data_room() - 14;
    i.details = {{"rxFile", rx_path_}, {"txFile", tx_path_}, {"mode", mode_name_}, {"records", std::to_string(records_)}};
    if (reader_) i.details.push_back({"rxTimestamps", reader_->nanosecond() ? "nanosecond" : "microsecond"});
    if (writer_) i.details.push_back({"snaplen", std::to_string(writer_->snaplen())});
    return i;
  }
  void configure(uint16_t rxq, uint16_t txq) override {
    if (rxq > 1) fail("INVALID_OPTION", "pcap ports have one rx queue; the engine spreads it with software RSS");
    tx_caches_.assign(txq, nullptr);
  }
  void setup_rx_queue(const QueueSetup& q) override {
    rx_cache_ = q.cache;
    rx_nombuf_ = q.nombuf;
  }
  void setup_tx_queue(const QueueSetup& q) override { tx_caches_.at(q.queue_id) = q.cache; }
  MacAddr mac() const override { return virtual_mac(port_id_); }

  void start() override {
    // Pace from the first poll after (re)start, so a stop does not turn into a
    // burst of "late" records when the port comes back.
    pace_armed_ = false;
  }
  // We hold no mbufs; stopping only has to put every transmitted packet in the
  // file, so that it is complete and readable as soon as the port is stopped.
  void stop() override {
    if (!writer_) return;
    std::lock_guard<std::mutex> lock(tx_mu_);
    writer_->flush();
  }
  void close() override {
    if (writer_) {
      std::lock_guard<std::mutex> lock(tx_mu_);
      writer_->close();
    }
    reader_.reset();  // unmaps the capture; rx gives nothing from now on
  }

  // An empty capture, a tx-only port and a finished once/pace replay have
  // nothing more to give; a loop never ends.
  bool rx_done() const override {
    if (records_ == 0 || !reader_) return true;
    return mode_ != Mode::Loop && delivered_.get() >= records_;
  }

  void xstats(XStats& out) const override {
    if (!rx_path_.empty()) {
      out.push_back({"records", records_});
      out.push_back({"delivered", delivered_.get()});
      out.push_back({"loops", loops_.get()});
    }
    if (writer_) {
      out.push_back({"written", writer_->written()});
      out.push_back({"writtenBytes", writer_->written_bytes()});
      out.push_back({"writeErrors", writer_->errors()});
      out.push_back({"writeDropped", writer_->dropped()});
    }
  }

  uint16_t rx_burst(uint16_t, Mbuf** mbufs, uint16_t n) override {
    if (!reader_ || records_ == 0 || n == 0) return 0;
    size_t want = n;
    if (mode_ != Mode::Loop) {
      want = std::min<size_t>(want, records_ - next_);
      if (mode_ == Mode::Pace && want) want = due(want);
    }
    if (want == 0) return 0;
    if (!pool_.alloc_bulk(rx_cache_, mbufs, uint32_t(want))) {
      // The records stay for the next poll; count the miss (drops.noMbuf).
      if (rx_nombuf_) rx_nombuf_->add(want);
      return 0;
    }
    for (size_t i = 0; i < want; i++) {
      const pcap::PcapReader::Record& r = reader_->record(next_);
      Mbuf* m = mbufs[i];
      std::memcpy(m->data(), reader_->data(r), r.len);
      m->data_len = uint16_t(r.len);  // <= data room, checked at construction
      m->port = port_id_;
      m->queue = 0;
      // The recorded time, also when looping: it says which record this is.
      m->timestamp = r.ts_ns;
      m->flags |= kMbufTimestampValid;
      if (++next_ == records_ && mode_ == Mode::Loop) {
        next_ = 0;
        loops_.add(1);
      }
    }
    delivered_.add(want);
    return uint16_t(want);
  }

  uint16_t tx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    // Not ours to accept without a file: the caller counts them as dropped.
    if (!writer_ || n == 0) return 0;
    {
      std::lock_guard<std::mutex> lock(tx_mu_);
      if (!writer_->is_open()) return 0;
      // One clock read per burst: the packets left together, and each call
      // keeps its records together and in order in the file.
      const uint64_t ts = realtime_ns();
      for (uint16_t i = 0; i < n; i++) writer_->append(mbufs[i]->data(), mbufs[i]->data_len, ts);
      writer_->flush_if_stale(monotonic_ns());
    }
    pool_.free_bulk(queue < tx_caches_.size() ? tx_caches_[queue] : nullptr, mbufs, n);
    return n;
  }

 private:
  // Of the next `want` records, how many are due: a record is due when its
  // offset from the record replay (re)started at has elapsed on our clock.
  size_t due(size_t want) {
    const uint64_t now = monotonic_ns();
    if (!pace_armed_) {
      pace_armed_ = true;
      pace_start_ns_ = now;
      pace_origin_ns_ = reader_->record(next_).ts_ns;
    }
    const uint64_t elapsed = now - pace_start_ns_;
    size_t k = 0;
    for (; k < want; k++) {
      const uint64_t ts = reader_->record(next_ + k).ts_ns;
      // A record stamped before the origin (captures are not always in order) is due at once.
      if (ts > pace_origin_ns_ && ts - pace_origin_ns_ > elapsed) break;
    }
    return k;
  }

  void check_frame_size() {
    const uint32_t room = pool_.data_room();
    if (reader_->largest() <= room) return;
    size_t first = 0;
    while (reader_->record(first).len <= room) first++;
    const uint32_t need = (reader_->largest() + 63) / 64 * 64;
    // What Mempool accepts: header + headroom + data room within 16 bits.
    const uint32_t max_room = (65535 - kMbufHeaderSize - pool_.headroom()) / 64 * 64;
    std::string msg = "pcap file '" + rx_path_ + "': record " + std::to_string(first + 1) + " is " +
                      std::to_string(reader_->record(first).len) + " bytes, more than the mempool data room of " +
                      std::to_string(room) + " bytes; the largest record is " + std::to_string(reader_->largest()) +
                      " bytes. ";
    if (need <= max_room)
      msg += "Give the engine a larger data room: `mempool: { dataRoom: " + std::to_string(need) + " }`";
    else
      msg += "That is more than an mbuf can hold (dataRoom at most " + std::to_string(max_room) +
             "); cut the frames with `editcap -s " + std::to_string(max_room) + " in.pcap out.pcap`";
    fail("FRAME_TOO_LARGE", msg);
  }

  Mempool& pool_;
  uint16_t port_id_;
  std::string rx_path_, tx_path_, mode_name_;
  Mode mode_ = Mode::Once;

  // rx: touched only by the lcore polling queue 0 (and start(), while it is not).
  std::unique_ptr<pcap::PcapReader> reader_;
  size_t records_ = 0;
  size_t next_ = 0;
  Mempool::Cache* rx_cache_ = nullptr;
  Counter* rx_nombuf_ = nullptr;
  bool pace_armed_ = false;
  uint64_t pace_start_ns_ = 0, pace_origin_ns_ = 0;
  Counter delivered_, loops_;  // one writer (the rx lcore), read by stats

  // tx: any number of lcores, serialised by tx_mu_.
  std::unique_ptr<pcap::PcapWriter> writer_;
  std::mutex tx_mu_;
  std::vector<Mempool::Cache*> tx_caches_;
};

}  // namespace

std::unique_ptr<Driver> make_pcap_driver(const Config& cfg, Mempool& pool, uint16_t port_id) {
  return std::make_unique<PcapDriver>(cfg, pool, port_id);
}

}  // namespace lr
