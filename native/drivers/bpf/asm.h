// A tiny eBPF assembler: enough to write the drivers' BPF programs (af_xdp's XDP
// program, af_packet's tcx program) as C++
// calls, with named labels for jumps. Encodings from include/uapi/linux/bpf.h
// and bpf_common.h (instruction classes, sizes, modes, ALU and JMP opcodes) and
// Documentation/bpf/standardization/instruction-set.rst.
#pragma once
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "drivers/bpf/uapi.h"

namespace lr::bpf {

enum Reg : uint8_t { R0 = 0, R1, R2, R3, R4, R5, R6, R7, R8, R9, FP = 10 };

// bpf_common.h
namespace op {
constexpr uint8_t LD = 0x00, LDX = 0x01, ST = 0x02, STX = 0x03, ALU = 0x04, JMP = 0x05, ALU64 = 0x07;
constexpr uint8_t W = 0x00, H = 0x08, B = 0x10, DW = 0x18;  // sizes
constexpr uint8_t IMM = 0x00, MEM = 0x60;                   // modes
constexpr uint8_t K = 0x00, X = 0x08;                       // source: immediate or register
constexpr uint8_t ADD = 0x00, OR = 0x40, AND = 0x50, LSH = 0x60, MOV = 0xb0;
constexpr uint8_t JA = 0x00, JEQ = 0x10, JGT = 0x20, JNE = 0x50, JLT = 0xa0, JLE = 0xb0, CALL = 0x80, EXIT = 0x90;
}  // namespace op

class Asm {
 public:
  // dst = src / dst = imm (64-bit)
  void mov(Reg dst, Reg src) { ins(op::ALU64 | op::MOV | op::X, dst, src, 0, 0); }
  void mov(Reg dst, int32_t imm) { ins(op::ALU64 | op::MOV | op::K, dst, 0, 0, imm); }
  void add(Reg dst, int32_t imm) { ins(op::ALU64 | op::ADD | op::K, dst, 0, 0, imm); }
  void add(Reg dst, Reg src) { ins(op::ALU64 | op::ADD | op::X, dst, src, 0, 0); }
  void or_(Reg dst, int32_t imm) { ins(op::ALU64 | op::OR | op::K, dst, 0, 0, imm); }
  void or_(Reg dst, Reg src) { ins(op::ALU64 | op::OR | op::X, dst, src, 0, 0); }
  void and_(Reg dst, int32_t imm) { ins(op::ALU64 | op::AND | op::K, dst, 0, 0, imm); }
  void and_(Reg dst, Reg src) { ins(op::ALU64 | op::AND | op::X, dst, src, 0, 0); }
  void lsh(Reg dst, int32_t imm) { ins(op::ALU64 | op::LSH | op::K, dst, 0, 0, imm); }
  // dst = *(size *)(src + off)
  void ldx(uint8_t size, Reg dst, Reg src, int16_t off) { ins(op::LDX | size | op::MEM, dst, src, off, 0); }
  // *(size *)(dst + off) = src
  void stx(uint8_t size, Reg dst, int16_t off, Reg src) { ins(op::STX | size | op::MEM, dst, src, off, 0); }
  // *(size *)(dst + off) = imm
  void st(uint8_t size, Reg dst, int16_t off, int32_t imm) { ins(op::ST | size | op::MEM, dst, 0, off, imm); }
  // dst = map (ld_imm64 with BPF_PSEUDO_MAP_FD: two instruction slots)
  void ld_map_fd(Reg dst, int fd) {
    ins(op::LD | op::DW | op::IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
    ins(0, 0, 0, 0, 0);
  }
  void call(int32_t helper) { ins(op::JMP | op::CALL, 0, 0, 0, helper); }
  void exit() { ins(op::JMP | op::EXIT, 0, 0, 0, 0); }
  // Conditional jumps to a label (64-bit compare): if (dst <jop> imm|src) goto label
  void jmp(uint8_t jop, Reg dst, int32_t imm, const std::string& label) { jump(op::JMP | jop | op::K, dst, 0, imm, label); }
  void jmp(uint8_t jop, Reg dst, Reg src, const std::string& label) { jump(op::JMP | jop | op::X, dst, src, 0, label); }
  void ja(const std::string& label) { jump(op::JMP | op::JA, 0, 0, 0, label); }
  // The per-CPU counter pattern of both drivers' programs: looks up this CPU's
  // slot of the per-CPU array `map_fd` at the u32 key stored at FP + key_off
  // and adds 1 to its u64 (one writer per slot: no atomic needed), then falls
  // through; a failed lookup jumps to `done`, which the caller places right
  // after. Clobbers r0-r5.
  void count_in_percpu_slot(int map_fd, int16_t key_off, const std::string& done) {
    ld_map_fd(R1, map_fd);
    mov(R2, FP);
    add(R2, key_off);
    call(BPF_FUNC_map_lookup_elem);
    jmp(op::JEQ, R0, 0, done);
    ldx(op::DW, R1, R0, 0);
    add(R1, 1);
    stx(op::DW, R0, 0, R1);
  }

  void label(const std::string& name) {
    if (!labels_.emplace(name, int(code_.size())).second) fail("NATIVE_ERROR", "xdp program: label '" + name + "' defined twice");
  }

  // Resolves jumps; offsets are relative to the next instruction.
  std::vector<bpf_insn> finish() const {
    std::vector<bpf_insn> out = code_;
    for (auto& [at, name] : fixups_) {
      auto it = labels_.find(name);
      if (it == labels_.end()) fail("NATIVE_ERROR", "xdp program: undefined label '" + name + "'");
      const int rel = it->second - (at + 1);
      if (rel < INT16_MIN || rel > INT16_MAX) fail("NATIVE_ERROR", "xdp program: jump too far");
      out[size_t(at)].off = int16_t(rel);
    }
    return out;
  }
  size_t size() const { return code_.size(); }
  // A comment for the next instruction, kept for the listing (docs/drivers/af_xdp.md).
  void note(std::string text) { pending_note_ = std::move(text); }
  // One line per instruction slot: index, raw encoding and the comment given with note().
  std::string listing() const {
    std::string out;
    const auto code = finish();
    std::map<int, std::string> at;
    for (auto& [name, i] : labels_) at[i] += name + ":\n";
    for (size_t i = 0; i < code.size(); i++) {
      if (at.count(int(i))) out += at[int(i)];
      char buf[96];
      snprintf(buf, sizeof buf, "  %4zu: %02x %x %x %6d %11d", i, code[i].code, code[i].dst_reg, code[i].src_reg, code[i].off,
               code[i].imm);
      out += buf;
      if (!notes_[i].empty()) out += "   ; " + notes_[i];
      out += "\n";
    }
    return out;
  }

 private:
  void ins(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    code_.push_back(i);
    notes_.push_back(std::move(pending_note_));
    pending_note_.clear();
  }
  void jump(uint8_t code, uint8_t dst, uint8_t src, int32_t imm, const std::string& label) {
    fixups_.emplace_back(int(code_.size()), label);
    ins(code, dst, src, 0, imm);
  }
  std::vector<bpf_insn> code_;
  std::vector<std::string> notes_;
  std::string pending_note_;
  std::map<std::string, int> labels_;
  std::vector<std::pair<int, std::string>> fixups_;
};

}  // namespace lr::bpf
