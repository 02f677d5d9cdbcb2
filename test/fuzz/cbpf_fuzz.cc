// libFuzzer target: the capture's cBPF checker and interpreter
// (native/pipeline/capture/cbpf.cc), and the --bpf text parser.
// Input: byte 0 = mode and count. With bit 7 clear, n = (byte 0 & 63) + 1
// instructions of 8 bytes (code LE16, jt, jf, k LE32) follow, then the packet.
// With bit 7 set, the rest is --bpf text for parse_ddd.
// Contract: check() refuses or accepts; an accepted program runs to a RET over
// any packet without reading outside it (ASan) or any undefined behaviour
// (UBSan); parse_ddd returns a program or throws CAPTURE_BPF_INVALID only.
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "fuzz_bed.h"
#include "pipeline/capture/cbpf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  if (data[0] & 0x80) {
    try {
      auto prog = lr::cbpf::parse_ddd(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
      FUZZ_ASSERT(!prog.empty() && prog.size() <= lr::cbpf::kMaxInsns);
      (void)lr::cbpf::check(prog.data(), prog.size());
    } catch (const lr::Error& e) {
      FUZZ_ASSERT(e.code() == "CAPTURE_BPF_INVALID");
    }
    return 0;
  }
  const size_t n = (data[0] & 63) + 1;
  if (size < 1 + n * 8) return 0;
  std::vector<lr::cbpf::Insn> prog(n);
  for (size_t i = 0; i < n; i++) {
    const uint8_t* p = data + 1 + i * 8;
    prog[i].code = uint16_t(p[0] | p[1] << 8);
    prog[i].jt = p[2];
    prog[i].jf = p[3];
    prog[i].k = uint32_t(p[4]) | uint32_t(p[5]) << 8 | uint32_t(p[6]) << 16 | uint32_t(p[7]) << 24;
  }
  if (!lr::cbpf::check(prog.data(), n).empty()) return 0;
  // The packet in a heap block of its exact size, so ASan sees a read past it.
  const size_t len = size - 1 - n * 8;
  std::vector<uint8_t> pkt(data + 1 + n * 8, data + size);
  (void)lr::cbpf::run(prog.data(), pkt.data(), uint32_t(len) + 100, uint32_t(len));
  return 0;
}
