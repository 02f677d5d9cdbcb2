// The checked cBPF interpreter (cbpf.h). Semantics follow the kernel's
// Documentation/networking/filter.rst and the BSD bpf(4) machine; where the two
// leave a case open (a shift by X >= 32) we take libpcap's bpf_filter() result,
// so that a filter selects here exactly what tcpdump selects on the same frames.
#include "pipeline/capture/cbpf.h"

#include <cstdio>
#include <cstdlib>

#include "core/error.h"

namespace lr::cbpf {

namespace {

std::string at(size_t pc, const char* why) { return "instruction " + std::to_string(pc) + ": " + why; }

// The opcodes filter.rst lists, as full codes. Anything else is refused at load,
// as the kernel's checker refuses it (its codes[] table holds the same set).
bool known(uint16_t code) {
  switch (code) {
    case kLd | kW | kAbs: case kLd | kH | kAbs: case kLd | kB | kAbs:
    case kLd | kW | kInd: case kLd | kH | kInd: case kLd | kB | kInd:
    case kLd | kW | kLen: case kLd | kImm: case kLd | kMem:
    case kLdx | kW | kImm: case kLdx | kW | kMem: case kLdx | kW | kLen: case kLdx | kB | kMsh:
    case kSt: case kStx:
    case kAlu | kNeg:
    case kRet | kK: case kRet | kRetA:
    case kMisc | kTax: case kMisc | kTxa:
    case kJmp | kJa:
      return true;
    default:
      break;
  }
  const uint16_t cls = code & 0x07, op = code & 0xf0, rest = code & ~uint16_t(0xf8);
  if (cls == kAlu && rest == kAlu && op <= kXor && op != kNeg) return true;  // op | K or X
  if (cls == kJmp && rest == kJmp && op >= kJeq && op <= kJset) return true;
  return false;
}

}  // namespace

std::string check(const Insn* prog, size_t n) {
  if (n == 0) return "the program is empty (it needs at least a RET)";
  if (n > kMaxInsns) return "the program has " + std::to_string(n) + " instructions; at most 4096 (BPF_MAXINSNS)";
  for (size_t pc = 0; pc < n; pc++) {
    const Insn& i = prog[pc];
    if (!known(i.code)) {
      char why[32];
      std::snprintf(why, sizeof why, "unknown opcode 0x%02x", i.code);
      return at(pc, why);
    }
    const uint16_t cls = i.code & 0x07;
    if ((i.code == (kLd | kMem) || i.code == (kLdx | kW | kMem) || cls == kSt || cls == kStx) && i.k >= kMemWords)
      return at(pc, "scratch memory index out of range (M[0..15])");
    if (cls == kAlu && (i.code & kX) == kK) {
      const uint16_t op = i.code & 0xf0;
      if ((op == kDiv || op == kMod) && i.k == 0) return at(pc, "division by a constant zero");
      if ((op == kLsh || op == kRsh) && i.k >= 32) return at(pc, "shift by a constant of 32 or more");
    }
    if (cls == kJmp) {
      const size_t left = n - pc - 1;  // instructions after this one
      if ((i.code & 0xf0) == kJa) {
        if (i.k >= left) return at(pc, "jump out of the program");
      } else if (i.jt >= left || i.jf >= left) {
        return at(pc, "jump out of the program");
      }
    }
  }
  if ((prog[n - 1].code & 0x07) != kRet) return "the last instruction is not a RET";
  return "";
}

namespace {
inline uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
inline uint32_t be16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }
}  // namespace

uint32_t run(const Insn* prog, const uint8_t* pkt, uint32_t wire_len, uint32_t buf_len) {
  uint32_t A = 0, X = 0;
  uint32_t M[kMemWords] = {};  // zeroed: the kernel instead refuses reads before writes; zero is as safe
  // Loads: a field that does not end inside the buffer rejects the frame (return 0).
  // Offsets are summed in 64 bits so that X + k cannot wrap past the check.
  auto load = [&](uint64_t off, uint32_t size, uint32_t& out) {
    if (off + size > buf_len) return false;
    out = size == 4 ? be32(pkt + off) : size == 2 ? be16(pkt + off) : pkt[off];
    return true;
  };
  for (const Insn* i = prog;; i++) {
    const uint32_t k = i->k;
    switch (i->code) {
      case kLd | kW | kAbs: if (!load(k, 4, A)) return 0; break;
      case kLd | kH | kAbs: if (!load(k, 2, A)) return 0; break;
      case kLd | kB | kAbs: if (!load(k, 1, A)) return 0; break;
      case kLd | kW | kInd: if (!load(uint64_t(X) + k, 4, A)) return 0; break;
      case kLd | kH | kInd: if (!load(uint64_t(X) + k, 2, A)) return 0; break;
      case kLd | kB | kInd: if (!load(uint64_t(X) + k, 1, A)) return 0; break;
      case kLd | kW | kLen: A = wire_len; break;
      case kLd | kImm: A = k; break;
      case kLd | kMem: A = M[k]; break;
      case kLdx | kW | kImm: X = k; break;
      case kLdx | kW | kMem: X = M[k]; break;
      case kLdx | kW | kLen: X = wire_len; break;
      case kLdx | kB | kMsh: {  // X = 4 * (P[k] & 0xf): the IPv4 header length (RFC 791 IHL)
        uint32_t b;
        if (!load(k, 1, b)) return 0;
        X = (b & 0xf) << 2;
        break;
      }
      case kSt: M[k] = A; break;
      case kStx: M[k] = X; break;
      case kAlu | kAdd | kK: A += k; break;
      case kAlu | kSub | kK: A -= k; break;
      case kAlu | kMul | kK: A *= k; break;
      case kAlu | kDiv | kK: A /= k; break;  // k != 0: checked at load
      case kAlu | kMod | kK: A %= k; break;
      case kAlu | kOr | kK: A |= k; break;
      case kAlu | kAnd | kK: A &= k; break;
      case kAlu | kXor | kK: A ^= k; break;
      case kAlu | kLsh | kK: A <<= k; break;  // k < 32: checked at load
      case kAlu | kRsh | kK: A >>= k; break;
      case kAlu | kAdd | kX: A += X; break;
      case kAlu | kSub | kX: A -= X; break;
      case kAlu | kMul | kX: A *= X; break;
      case kAlu | kDiv | kX: if (!X) return 0; A /= X; break;
      case kAlu | kMod | kX: if (!X) return 0; A %= X; break;
      case kAlu | kOr | kX: A |= X; break;
      case kAlu | kAnd | kX: A &= X; break;
      case kAlu | kXor | kX: A ^= X; break;
      case kAlu | kLsh | kX: A = X < 32 ? A << X : 0; break;  // as libpcap's bpf_filter
      case kAlu | kRsh | kX: A = X < 32 ? A >> X : 0; break;
      case kAlu | kNeg: A = 0u - A; break;
      case kJmp | kJa: i += k; break;
      case kJmp | kJeq | kK: i += A == k ? i->jt : i->jf; break;
      case kJmp | kJgt | kK: i += A > k ? i->jt : i->jf; break;
      case kJmp | kJge | kK: i += A >= k ? i->jt : i->jf; break;
      case kJmp | kJset | kK: i += (A & k) ? i->jt : i->jf; break;
      case kJmp | kJeq | kX: i += A == X ? i->jt : i->jf; break;
      case kJmp | kJgt | kX: i += A > X ? i->jt : i->jf; break;
      case kJmp | kJge | kX: i += A >= X ? i->jt : i->jf; break;
      case kJmp | kJset | kX: i += (A & X) ? i->jt : i->jf; break;
      case kRet | kK: return k;
      case kRet | kRetA: return A;
      case kMisc | kTax: X = A; break;
      case kMisc | kTxa: A = X; break;
      default: return 0;  // unreachable for a checked program
    }
  }
}

std::vector<Insn> parse_ddd(const std::string& text) {
  // Numbers separated by commas, spaces or newlines: a count, then 4 per instruction.
  std::vector<uint64_t> nums;
  const char* s = text.c_str();
  while (*s) {
    if (*s == ',' || *s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') {
      s++;
      continue;
    }
    if (*s < '0' || *s > '9')
      fail("CAPTURE_BPF_INVALID", std::string("--bpf: unexpected character '") + *s +
                                      "'; give the program as tcpdump -ddd prints it: \"N,code jt jf k,...\"");
    char* end;
    nums.push_back(std::strtoull(s, &end, 10));
    s = end;
    if (nums.size() > 1 + 4 * kMaxInsns) fail("CAPTURE_BPF_INVALID", "--bpf: more than 4096 instructions");
  }
  if (nums.empty() || nums[0] == 0 || nums.size() != 1 + 4 * nums[0])
    fail("CAPTURE_BPF_INVALID", "--bpf: expected a count N then N instructions of 4 numbers (code jt jf k), as tcpdump -ddd prints; got " +
                                    std::to_string(nums.size()) + " numbers");
  std::vector<Insn> prog(nums[0]);
  for (size_t i = 0; i < prog.size(); i++) {
    const uint64_t* v = &nums[1 + 4 * i];
    if (v[0] > 0xffff || v[1] > 0xff || v[2] > 0xff || v[3] > 0xffffffffu)
      fail("CAPTURE_BPF_INVALID", "--bpf: instruction " + std::to_string(i) + " has a field out of range (code 16 bits, jt and jf 8, k 32)");
    prog[i] = {uint16_t(v[0]), uint8_t(v[1]), uint8_t(v[2]), uint32_t(v[3])};
  }
  return prog;
}

}  // namespace lr::cbpf
