// The exception path: a port hands what its data path does not claim to the
// kernel through another port (a TAP device), and what the kernel sends on that
// device goes out of the port. With it, a linerate server answers ARP and ping
// (and keeps SSH or anything else the kernel serves) while its data path stays
// in user space.
//
// What goes to the kernel (exception_to_kernel):
//  - ARP (ethertype 0x0806, RFC 826): address resolution is the kernel's;
//  - ICMP (IPv4 protocol 1, RFC 792) and ICMPv6 (next header 58 directly after
//    the fixed header, RFC 4443; this includes neighbour discovery, RFC 4861);
//  - when the path has a `keep` match: every other packet that does not match it
//    (e.g. keep = { udpDstPort: 7777 }: only that UDP port stays in user space).
// Frames too short for an Ethernet header stay on the data path (its stages
// count them as malformed). Set up with Engine::exception_path.
#pragma once
#include <memory>

#include "pipeline/match.h"
#include "pipeline/stage.h"
#include "pipeline/tx_buffer.h"

namespace lr {

struct ExceptionPath {
  uint16_t tap = 0;  // the port that stands for the kernel (a tap port)
  Match keep;        // what the data path keeps besides ARP/ICMP going to the kernel; empty: everything else
};

bool exception_to_kernel(const Mbuf* m, const Match& keep);

// Splits each burst: kernel-bound packets into the tap port's tx buffer, the rest
// to the port's own stage (echo, forward, a handler's native path). With no inner
// stage (the port has no other consumer), everything goes to the kernel.
class ExceptionStage final : public Stage {
 public:
  ExceptionStage(const Match& keep, TxBuffer to_kernel, std::unique_ptr<Stage> inner)
      : keep_(keep), tap_(to_kernel), inner_(std::move(inner)) {}
  void process(Mbuf** m, uint16_t n) override;
  void flush() override {
    tap_.flush();
    if (inner_) inner_->flush();
  }
  void drain() override {
    tap_.drop_all();
    if (inner_) inner_->drain();
  }

 private:
  Match keep_;
  TxBuffer tap_;
  std::unique_ptr<Stage> inner_;
};

}  // namespace lr
