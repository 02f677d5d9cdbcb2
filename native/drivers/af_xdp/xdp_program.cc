#include "drivers/af_xdp/xdp_program.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "drivers/bpf/asm.h"

namespace lr::xdp {

namespace {

// Stack slots of the parsed packet (fp-relative; all initialised first so the
// verifier never sees an uninitialised read).
constexpr int16_t kFamily = -4;  // u32: 0 (not IP), 4 or 6
constexpr int16_t kProto = -8;   // u32: IP protocol / next header, 0x100 when not IP
constexpr int16_t kDport = -12;  // u32: TCP/UDP destination port as its packet bytes, 0x10000 when none
constexpr int16_t kSrc = -32;    // 16 bytes: source address (IPv4: first 4)
constexpr int16_t kKey = -36;    // u32: map key scratch
constexpr int16_t kSet = -40;    // u32: index of the live rule set (0 or 1)

// Ethernet (IEEE 802.3), IPv4 (RFC 791 section 3.1), IPv6 (RFC 8200 section 3) offsets
// from the start of the frame. Ethertypes as a little-endian load of their packet bytes.
constexpr int16_t kEthType = 12;
constexpr int32_t kEthIpv4 = 0x0008, kEthIpv6 = 0xdd86;
constexpr int16_t kIp4 = 14, kIp4Frag = 20, kIp4Proto = 23, kIp4Src = 26;
constexpr int16_t kIp6Next = 20, kIp6Src = 22, kIp6End = 54;
constexpr int32_t kProtoTcp = 6, kProtoUdp = 17;

constexpr int32_t kRuleSetShift = 5;
static_assert((1u << kRuleSetShift) == kMaxDropRules, "counter key = set << shift | rule");

std::string L(const char* base, uint32_t i) { return std::string(base) + "_" + std::to_string(i); }

// fds < 0 produce the listing (maps shown as fd 0). broken: one unchecked
// packet load, for testing the verifier-refusal path
// (LINERATE_AF_XDP_TEST_VERIFIER=reject).
void generate(Asm& a, int xsks, int rules, int active, int drops, bool broken = false) {
  auto fd = [](int f) { return f < 0 ? 0 : f; };
  a.note("r6 = ctx (struct xdp_md *), kept across helper calls");
  a.mov(R6, R1);
  a.note("family = 0");
  a.st(op::W, FP, kFamily, 0);
  a.note("proto = none");
  a.st(op::W, FP, kProto, 0x100);
  a.note("dport = none");
  a.st(op::W, FP, kDport, 0x10000);
  a.note("src = 0 (16 bytes)");
  a.st(op::DW, FP, kSrc, 0);
  a.st(op::DW, FP, kSrc + 8, 0);
  a.note("key = 0");
  a.st(op::W, FP, kKey, 0);
  a.st(op::W, FP, kSet, 0);

  a.note("r0 = lookup(active, &key): which rule set is live");
  a.ld_map_fd(R1, fd(active));
  a.mov(R2, FP);
  a.add(R2, kKey);
  a.call(BPF_FUNC_map_lookup_elem);
  a.jmp(op::JEQ, R0, 0, "redirect");
  a.note("key = set = *active");
  a.ldx(op::W, R1, R0, 0);
  a.stx(op::W, FP, kKey, R1);
  a.stx(op::W, FP, kSet, R1);
  a.note("r9 = lookup(rules, &key): the rule set");
  a.ld_map_fd(R1, fd(rules));
  a.mov(R2, FP);
  a.add(R2, kKey);
  a.call(BPF_FUNC_map_lookup_elem);
  a.jmp(op::JEQ, R0, 0, "redirect");
  a.mov(R9, R0);
  a.note("r8 = rule count; none: straight to the socket");
  a.ldx(op::W, R8, R9, 0);
  a.jmp(op::JEQ, R8, 0, "redirect");

  a.note("r2 = data, r3 = data_end");
  a.ldx(op::W, R2, R6, XDP_MD_DATA);
  a.ldx(op::W, R3, R6, XDP_MD_DATA_END);
  if (broken) a.ldx(op::B, R0, R2, 0);
  a.note("Ethernet header present?");
  a.mov(R4, R2);
  a.add(R4, 14);
  a.jmp(op::JGT, R4, R3, "redirect");
  a.ldx(op::H, R5, R2, kEthType);
  a.jmp(op::JEQ, R5, kEthIpv4, "ipv4");
  a.jmp(op::JEQ, R5, kEthIpv6, "ipv6");
  a.note("not IP (ARP, VLAN-tagged, ...): never matches a rule");
  a.ja("redirect");

  a.label("ipv4");
  a.note("fixed IPv4 header present?");
  a.mov(R4, R2);
  a.add(R4, kIp4 + 20);
  a.jmp(op::JGT, R4, R3, "redirect");
  a.st(op::W, FP, kFamily, 4);
  a.ldx(op::B, R5, R2, kIp4Proto);
  a.stx(op::W, FP, kProto, R5);
  a.ldx(op::W, R5, R2, kIp4Src);
  a.stx(op::W, FP, kSrc, R5);
  a.note("fragment offset != 0: no L4 header here");
  a.ldx(op::H, R5, R2, kIp4Frag);
  a.and_(R5, 0xff1f);
  a.jmp(op::JNE, R5, 0, "rules");
  a.ldx(op::B, R5, R2, kIp4Proto);
  a.jmp(op::JEQ, R5, kProtoTcp, "ports4");
  a.jmp(op::JNE, R5, kProtoUdp, "rules");
  a.label("ports4");
  a.note("r5 = IHL * 4 (options skipped), at least 20");
  a.ldx(op::B, R5, R2, kIp4);
  a.and_(R5, 15);
  a.lsh(R5, 2);
  a.jmp(op::JLT, R5, 20, "rules");
  a.add(R2, R5);
  a.note("L4 ports present?");
  a.mov(R4, R2);
  a.add(R4, kIp4 + 4);
  a.jmp(op::JGT, R4, R3, "rules");
  a.ldx(op::H, R5, R2, kIp4 + 2);
  a.stx(op::W, FP, kDport, R5);
  a.ja("rules");

  a.label("ipv6");
  a.note("fixed IPv6 header present?");
  a.mov(R4, R2);
  a.add(R4, kIp6End);
  a.jmp(op::JGT, R4, R3, "redirect");
  a.st(op::W, FP, kFamily, 6);
  a.ldx(op::B, R5, R2, kIp6Next);
  a.stx(op::W, FP, kProto, R5);
  for (int16_t w = 0; w < 4; w++) {
    a.ldx(op::W, R4, R2, int16_t(kIp6Src + 4 * w));
    a.stx(op::W, FP, int16_t(kSrc + 4 * w), R4);
  }
  a.note("extension headers are not walked: TCP/UDP right after the fixed header only");
  a.jmp(op::JEQ, R5, kProtoTcp, "ports6");
  a.jmp(op::JNE, R5, kProtoUdp, "rules");
  a.label("ports6");
  a.mov(R4, R2);
  a.add(R4, kIp6End + 4);
  a.jmp(op::JGT, R4, R3, "rules");
  a.ldx(op::H, R5, R2, kIp6End + 2);
  a.stx(op::W, FP, kDport, R5);

  a.label("rules");
  for (uint32_t i = 0; i < kMaxDropRules; i++) {
    const int16_t o = int16_t(kRuleSetRulesOffset + 48 * i);
    const std::string next = i + 1 < kMaxDropRules ? L("rule", i + 1) : "redirect";
    a.label(L("rule", i));
    a.note("rule " + std::to_string(i) + ": past the count -> to the socket");
    a.jmp(op::JLE, R8, int32_t(i), "redirect");
    a.ldx(op::W, R1, R9, o);
    a.note("protocol");
    a.mov(R2, R1);
    a.and_(R2, int32_t(kRuleProto));
    a.jmp(op::JEQ, R2, 0, L("port", i));
    a.ldx(op::B, R2, R9, int16_t(o + 4));
    a.ldx(op::W, R3, FP, kProto);
    a.jmp(op::JNE, R2, R3, next);
    a.label(L("port", i));
    a.note("destination port");
    a.mov(R2, R1);
    a.and_(R2, int32_t(kRulePort));
    a.jmp(op::JEQ, R2, 0, L("src4_", i));
    a.ldx(op::H, R2, R9, int16_t(o + 6));
    a.ldx(op::W, R3, FP, kDport);
    a.jmp(op::JNE, R2, R3, next);
    a.label(L("src4_", i));
    a.note("IPv4 source prefix: (src & mask) == addr");
    a.mov(R2, R1);
    a.and_(R2, int32_t(kRuleSrc4));
    a.jmp(op::JEQ, R2, 0, L("src6_", i));
    a.ldx(op::W, R3, FP, kFamily);
    a.jmp(op::JNE, R3, 4, next);
    a.ldx(op::W, R2, FP, kSrc);
    a.ldx(op::W, R3, R9, int16_t(o + 12));
    a.and_(R2, R3);
    a.ldx(op::W, R3, R9, int16_t(o + 8));
    a.jmp(op::JNE, R2, R3, next);
    a.label(L("src6_", i));
    a.note("IPv6 source prefix, four 32-bit words");
    a.mov(R2, R1);
    a.and_(R2, int32_t(kRuleSrc6));
    a.jmp(op::JEQ, R2, 0, L("hit", i));
    a.ldx(op::W, R3, FP, kFamily);
    a.jmp(op::JNE, R3, 6, next);
    for (int16_t w = 0; w < 4; w++) {
      a.ldx(op::W, R2, FP, int16_t(kSrc + 4 * w));
      a.ldx(op::W, R3, R9, int16_t(o + 32 + 4 * w));
      a.and_(R2, R3);
      a.ldx(op::W, R3, R9, int16_t(o + 16 + 4 * w));
      a.jmp(op::JNE, R2, R3, next);
    }
    a.label(L("hit", i));
    a.note("match: r7 = rule index");
    a.mov(R7, int32_t(i));
    a.ja("drop");
  }

  a.label("drop");
  a.note("each set has its own counters: key = set * kMaxDropRules + rule");
  a.ldx(op::W, R1, FP, kSet);
  a.and_(R1, 1);
  a.lsh(R1, kRuleSetShift);
  a.add(R7, R1);
  a.note("drops[key] += 1 (per-CPU value: no atomic needed)");
  a.stx(op::W, FP, kKey, R7);
  a.count_in_percpu_slot(fd(drops), kKey, "drop_exit");
  a.label("drop_exit");
  a.mov(R0, XDP_DROP);
  a.exit();

  a.label("redirect");
  a.note("return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)");
  a.ld_map_fd(R1, fd(xsks));
  a.ldx(op::W, R2, R6, XDP_MD_RX_QUEUE_INDEX);
  a.mov(R3, XDP_PASS);
  a.call(BPF_FUNC_redirect_map);
  a.exit();
}

[[noreturn]] void map_fail(const std::string& scope, const char* what, int err) {
  if (err == -EPERM || err == -EACCES)
    fail("MISSING_CAPABILITY", scope + ": creating the BPF map '" + what + "' was refused (" + errno_text(-err) +
                                   "); AF_XDP needs CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN on kernels before 5.8): run as root, or "
                                   "sudo setcap cap_bpf,cap_net_admin,cap_net_raw,cap_ipc_lock+ep \"$(readlink -f \"$(which node)\")\"");
  fail("XDP_ATTACH_REFUSED", scope + ": creating the BPF map '" + what + "' failed: " + errno_text(-err));
}

}  // namespace

XdpProgram::XdpProgram(const std::string& scope) : scope_(scope), ncpus_(possible_cpus()) {
  int fd = bpf_map_create(BPF_MAP_TYPE_XSKMAP, 4, 4, kMaxQueues, "lr_xsks");
  if (fd < 0) map_fail(scope, "xsks", fd);
  xsks_.reset(fd);
  fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, 4, sizeof(RuleSet), 2, "lr_rules");
  if (fd < 0) map_fail(scope, "rules", fd);
  rules_.reset(fd);
  fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1, "lr_active");
  if (fd < 0) map_fail(scope, "active", fd);
  active_.reset(fd);
  fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 2 * kMaxDropRules, "lr_drops");
  if (fd < 0) map_fail(scope, "drops", fd);
  drops_.reset(fd);

  Asm a;
  const char* test = std::getenv("LINERATE_AF_XDP_TEST_VERIFIER");
  generate(a, xsks_.get(), rules_.get(), active_.get(), drops_.get(), test && std::string(test) == "reject");
  const auto insns = a.finish();
  insns_ = insns.size();
  std::string log;
  fd = bpf_prog_load_xdp(insns, "linerate_xsk", &log);
  if (fd < 0) {
    // EPERM: no capability. EACCES and EINVAL come from the verifier, with its log.
    if (fd == -EPERM && log.empty())
      fail("MISSING_CAPABILITY", scope + ": loading the XDP program was refused (" + errno_text(-fd) +
                                     "); it needs CAP_BPF and CAP_NET_ADMIN: run as root, or sudo setcap "
                                     "cap_bpf,cap_net_admin,cap_net_raw,cap_ipc_lock+ep \"$(readlink -f \"$(which node)\")\"");
    // The tail of the log is where the verifier says why.
    if (log.size() > 4000) log = "...\n" + log.substr(log.size() - 4000);
    fail("XDP_ATTACH_REFUSED", scope + ": the kernel refused the XDP program (" + errno_text(-fd) + ", " + std::to_string(insns.size()) +
                                   " instructions). This is a linerate bug or a kernel without XDP sockets (needs Linux >= 5.10); "
                                   "please report it with this verifier log:\n" + log);
  }
  prog_.reset(fd);
}

void XdpProgram::set_socket(uint32_t queue, int xsk_fd) {
  const int32_t v = xsk_fd;
  int r = bpf_map_update(xsks_.get(), &queue, &v);
  if (r < 0)
    fail("XDP_ATTACH_REFUSED", scope_ + ": cannot put the XDP socket of queue " + std::to_string(queue) + " in the XSKMAP: " + errno_text(-r));
}

void XdpProgram::clear_socket(uint32_t queue) {
  // XSKMAP entries disappear when their socket closes; nothing else to do.
  (void)queue;
}

void XdpProgram::set_rules(const RuleSet& set) {
  // Write the set the program does not read, with its counters zeroed, then
  // flip `active`: the program sees either the old set or the new one, whole.
  const uint32_t next = active_set_ ^ 1;
  std::vector<uint64_t> zeros(size_t(ncpus_), 0);
  for (uint32_t i = 0; i < kMaxDropRules; i++) {
    const uint32_t key = (next << kRuleSetShift) | i;
    int r = bpf_map_update(drops_.get(), &key, zeros.data());
    if (r < 0) fail("XDP_ATTACH_REFUSED", scope_ + ": cannot reset the drop counters: " + errno_text(-r));
  }
  int r = bpf_map_update(rules_.get(), &next, &set);
  if (r < 0) fail("XDP_ATTACH_REFUSED", scope_ + ": cannot write the drop rules map: " + errno_text(-r));
  const uint32_t zero = 0;
  r = bpf_map_update(active_.get(), &zero, &next);
  if (r < 0) fail("XDP_ATTACH_REFUSED", scope_ + ": cannot switch the drop rules map: " + errno_text(-r));
  active_set_ = next;
  rules_set_ = set;
}

std::vector<uint64_t> XdpProgram::drop_counts() const {
  std::vector<uint64_t> out(rules_set_.count, 0);
  for (uint32_t i = 0; i < rules_set_.count; i++) out[i] = bpf_percpu_sum(drops_.get(), (active_set_ << kRuleSetShift) | i, ncpus_);
  return out;
}

std::string XdpProgram::listing() {
  Asm a;
  generate(a, -1, -1, -1, -1);
  return a.listing();
}

}  // namespace lr::xdp
