// Classic BPF (cBPF): the filter language of tcpdump and of SO_ATTACH_FILTER,
// run by linerate's own interpreter on the lcore for packet capture.
//
// Reference: the Linux kernel's Documentation/networking/filter.rst
// ("BPF engine and instruction set"), and the BSD bpf(4) machine it describes
// (McCanne & Jacobson, "The BSD Packet Filter", USENIX 1993). The instruction is
// the kernel's struct sock_filter / libpcap's struct bpf_insn:
//   { u16 code; u8 jt; u8 jf; u32 k; }
// Registers: A (accumulator), X (index), M[0..15] (scratch memory, 32-bit).
//
// A program is checked once, when it is loaded (cbpf_check, the same rules as
// the kernel's bpf_check_classic), so that running it (cbpf_run) needs no check
// but the packet bounds: it cannot jump out of the program, loop, read scratch
// memory out of range or divide by a constant zero.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lr::cbpf {

struct Insn {
  uint16_t code;
  uint8_t jt, jf;
  uint32_t k;
};
static_assert(sizeof(Insn) == 8, "struct sock_filter is 8 bytes");

// filter.rst, "BPF engine and instruction set": the code is class | size | mode
// (loads, stores), class | op | src (ALU, jumps), class | rval (RET), class | op (MISC).
enum : uint16_t {
  // classes (code & 0x07)
  kLd = 0x00, kLdx = 0x01, kSt = 0x02, kStx = 0x03, kAlu = 0x04, kJmp = 0x05, kRet = 0x06, kMisc = 0x07,
  // load sizes (code & 0x18)
  kW = 0x00, kH = 0x08, kB = 0x10,
  // load modes (code & 0xe0)
  kImm = 0x00, kAbs = 0x20, kInd = 0x40, kMem = 0x60, kLen = 0x80, kMsh = 0xa0,
  // ALU operations (code & 0xf0)
  kAdd = 0x00, kSub = 0x10, kMul = 0x20, kDiv = 0x30, kOr = 0x40, kAnd = 0x50, kLsh = 0x60, kRsh = 0x70,
  kNeg = 0x80, kMod = 0x90, kXor = 0xa0,
  // jumps (code & 0xf0)
  kJa = 0x00, kJeq = 0x10, kJgt = 0x20, kJge = 0x30, kJset = 0x40,
  // operand source (code & 0x08): K (the immediate) or X; for RET (code & 0x18): K or A
  kK = 0x00, kX = 0x08, kRetA = 0x10,
  // MISC (code & 0xf8)
  kTax = 0x00, kTxa = 0x80,
};

// BPF_MEMWORDS (filter.rst: "M[] 16 x 32 bit wide"), BPF_MAXINSNS (4096 in the kernel).
constexpr uint32_t kMemWords = 16;
constexpr size_t kMaxInsns = 4096;

// The kernel's checker rules (net/core/filter.c bpf_check_classic, as filter.rst
// documents them): 1..4096 instructions; only known opcodes; every jump lands
// inside the program (jumps go forward only: offsets are unsigned, so no loops);
// no division or modulo by a constant 0, no shift by a constant >= 32; scratch
// memory indices < 16; the last instruction is a RET.
// Returns "" when the program is valid, else why not (with the instruction's index).
std::string check(const Insn* prog, size_t n);

// Runs a checked program over a frame: `wire_len` is the frame's length on the
// wire (BPF_LEN), `buf_len` how many bytes of it are at `pkt`. Returns what the
// filter returned: 0 rejects, anything else accepts that many bytes (tcpdump
// compiles `ret #snaplen`). A load beyond buf_len returns 0 (the frame is
// rejected), as in the kernel and libpcap; so does a division by X == 0.
uint32_t run(const Insn* prog, const uint8_t* pkt, uint32_t wire_len, uint32_t buf_len);

// tcpdump -ddd's text ("N,code jt jf k,code jt jf k,..."; commas or newlines
// between instructions), as `linerate capture --bpf` takes it. Throws
// lr::Error CAPTURE_BPF_INVALID on a malformed text; does not check() the program.
std::vector<Insn> parse_ddd(const std::string& text);

}  // namespace lr::cbpf
