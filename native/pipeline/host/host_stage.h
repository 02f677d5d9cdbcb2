// HostStage: the host layer's receive side on one (port, rx queue), run by the
// lcore that polls it (or by an inline worker's rx call). Every packet ends in
// exactly one of: answered here (ARP, neighbour solicitation, echo request),
// learned from and freed (ARP reply, neighbour advertisement), delivered to a
// UDP socket's handler, handed to the kernel through the exception path (when the
// port has one), or dropped and counted by reason (HostCounters).
#pragma once
#include <memory>
#include <vector>

#include "pipeline/host/host.h"
#include "pipeline/host/host_output.h"
#include "pipeline/stage.h"
#include "pipeline/tx_buffer.h"

namespace lr {
class JsChannel;
class InlineQueue;
}  // namespace lr

namespace lr::host {

// Where one socket's datagrams go from this queue: its channel (pipeline mode)
// or the inline worker polling this queue.
struct SocketSink {
  JsChannel* channel = nullptr;
  InlineQueue* inline_queue = nullptr;
};

class HostStage final : public Stage {
 public:
  HostStage(Host* host, TxBuffer tx, std::unique_ptr<TxBuffer> to_kernel, std::vector<SocketSink> sinks, Mempool* pool,
            Mempool::Cache* cache, uint32_t slot);

  void process(Mbuf** m, uint16_t n) override;
  // Tests: off sends every packet through input(), the general path the fast
  // path (host_fast_path.h) must agree with.
  void set_fast_path(bool on) { fast_ = on; }
  void flush() override;
  void drain() override;

 private:
  // The receive fast path (host_fast_path.h) over a burst, for a host with
  // these families (0: both); what it does not take goes to input(). Returns
  // how many it delivered.
  template <int Families>
  uint32_t fast_loop(Mbuf** m, uint16_t n, uint64_t now);
  void input(Mbuf* m, uint64_t now);
  void arp_in(Mbuf* m, uint32_t l3, uint64_t now);
  void ipv4_in(Mbuf* m, uint32_t l3);
  void ipv6_in(Mbuf* m, uint32_t l3, uint64_t now);
  void icmp_echo4(Mbuf* m, uint32_t l3, uint32_t ihl);
  void icmp6_in(Mbuf* m, uint32_t l3, bool unicast, uint64_t now);
  void udp_in(Mbuf* m, uint32_t l3, uint32_t l4, uint8_t family);
  // UDP to a port nobody serves: ICMP port unreachable, when configured and within the rate limit.
  void port_unreachable(Mbuf* m, uint32_t l3, uint8_t family);
  // Not ours to serve: to the kernel through the exception path, else dropped; `why` counts it either way.
  void pass(Mbuf* m, Counter& why);
  // Consecutive datagrams for one socket go to it together: run_ holds them,
  // Run says for which socket and how many. The receive loop keeps a copy of
  // the Run in registers (stores into packets could alias the member).
  struct Run {
    uint16_t socket = Host::kNoSocket;
    uint32_t n = 0;
  };
  // A checked datagram: trimmed to data_len, described for JS (HostMeta), handed to its socket.
  // Inlined into the receive loop: it runs for every datagram.
  [[gnu::always_inline]] void to_socket(Run& r, Mbuf* m, uint16_t data_len, uint8_t l3, uint8_t family, uint16_t socket);
  void flush_run(Run& r);
  void send_here(Mbuf* m);

  Host* host_;
  TxBuffer tx_;
  std::unique_ptr<TxBuffer> kernel_;
  std::vector<SocketSink> sinks_;
  Mempool* pool_;
  Mempool::Cache* cache_;
  uint32_t slot_;
  HostOut out_;
  HostCounters& c_;
  bool fast_ = true;
  Run run_state_;
  Mbuf* run_[64];
};

}  // namespace lr::host
