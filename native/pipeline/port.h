// A port: a driver instance plus the engine's per-queue counters for it.
// rx counters have one writer each (the lcore that first sees a queue's packets:
// its poller, or the software-RSS dispatcher); tx counters are indexed by lcore,
// because each lcore transmits on its own tx queue.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/counter.h"
#include "drivers/driver.h"
#include "pipeline/capture/capture.h"

namespace lr {

struct alignas(64) RxQueueStats {
  Counter packets, bytes, nombuf;
  Counter ring_full;  // software RSS: dropped because the queue's ring was full
  Counter unmatched;  // a handler's match refused them and the port has no native path
};

struct alignas(64) TxQueueStats {
  Counter packets, bytes;
  Counter full;       // dropped: the driver did not take them
  Counter malformed;  // dropped by a stage: too short to parse
  Counter group_dst;  // dropped by echo: sent to a group (broadcast/multicast) address
};

enum class PortAction { None, Forward, Echo };
enum class ForwardMode { Io, Mac };

struct PortHandler;  // pipeline/handler.h
struct ExceptionPath;  // pipeline/exception.h
namespace host {
class Host;  // pipeline/host/host.h
}

struct RssOptions {
  std::vector<uint8_t> key;  // 40 bytes (52 for IPv6-capable hardware keys; only 40 used here)
  bool symmetric = false;
};

class Port {
 public:
  Port(uint16_t id, std::string name, std::string driver_name, std::unique_ptr<Driver> d, uint16_t rx_queues,
       uint32_t lcores, RssOptions rss)
      : id_(id), name_(std::move(name)), driver_name_(std::move(driver_name)), driver_(std::move(d)),
        info_(driver_->info()), rx_queues_(rx_queues), rss_(std::move(rss)), rxq_(rx_queues), txq_(lcores) {}

  uint16_t id() const { return id_; }
  const std::string& name() const { return name_; }
  const std::string& driver_name() const { return driver_name_; }
  Driver& driver() { return *driver_; }
  const Driver& driver() const { return *driver_; }
  const DriverInfo& info() const { return info_; }
  uint16_t rx_queues() const { return rx_queues_; }
  // Software RSS: the driver has one rx queue and the engine spreads it.
  bool software_rss() const { return rx_queues_ > 1 && !info_.hw_rss; }
  uint16_t hw_rx_queues() const { return software_rss() ? 1 : rx_queues_; }
  const RssOptions& rss() const { return rss_; }

  std::vector<RxQueueStats>& rxq() { return rxq_; }
  std::vector<TxQueueStats>& txq() { return txq_; }
  const std::vector<RxQueueStats>& rxq() const { return rxq_; }
  const std::vector<TxQueueStats>& txq() const { return txq_; }

  // What the port does with what it receives.
  PortAction action = PortAction::None;
  uint16_t forward_to = 0;
  ForwardMode forward_mode = ForwardMode::Io;
  MacAddr forward_dst_mac{};
  // A JS handler (pipeline or inline), set by Engine::handle.
  std::shared_ptr<PortHandler> handler;
  // The exception path to the kernel, set by Engine::exception_path.
  std::shared_ptr<ExceptionPath> exception;
  // The host layer, set by Engine::host: the port owns addresses and serves UDP sockets.
  std::shared_ptr<host::Host> host;
  bool closed = false;
  // A packet capture (pipeline/capture/): the data path loads `capture` once per
  // burst and calls capture_tap() only when it is set; `capture_users` lets a
  // detach wait for taps in progress. `capture_owner` keeps the last capture
  // (attached or stopped) for its stats and its undrained records.
  std::atomic<Capture*> capture{nullptr};
  std::atomic<uint32_t> capture_users{0};
  std::shared_ptr<Capture> capture_owner;

 private:
  uint16_t id_;
  std::string name_, driver_name_;
  std::unique_ptr<Driver> driver_;
  DriverInfo info_;
  uint16_t rx_queues_;
  RssOptions rss_;
  std::vector<RxQueueStats> rxq_;
  std::vector<TxQueueStats> txq_;
};

}  // namespace lr
