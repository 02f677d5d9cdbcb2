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
constexpr int16_t kSteerOn = -44;    // u32: Control.steer
constexpr int16_t kSteerVlan = -48;  // u32: Control.steer_vlan
constexpr int16_t kFrameVlan = -52;  // u32: 0 untagged, 0x10000 | VLAN id of the frame's 802.1Q tag
constexpr int16_t kFrag = -56;       // u32: 1 when an IPv4 fragment (MF set or offset != 0)
constexpr int16_t kSteerKey = -80;   // 20 bytes: SteerKey (udp_steer.h), family/pad/port then the destination address

// Ethernet (IEEE 802.3), IPv4 (RFC 791 section 3.1), IPv6 (RFC 8200 section 3) offsets
// from the start of the frame. Ethertypes as a little-endian load of their packet bytes.
constexpr int16_t kEthType = 12;
constexpr int32_t kEthIpv4 = 0x0008, kEthIpv6 = 0xdd86;
// IEEE 802.1Q section 9.6: TPID 0x8100, then the TCI (PCP 3 bits, DEI 1, VID 12), then the inner ethertype.
constexpr int32_t kEthVlan = 0x0081;
constexpr int16_t kVlanTci = 14, kVlanInnerType = 16, kVlanTagLen = 4;
constexpr int16_t kIp4 = 14, kIp4Frag = 20, kIp4Proto = 23, kIp4Src = 26, kIp4Dst = 30;
constexpr int16_t kIp6Next = 20, kIp6Src = 22, kIp6Dst = 38, kIp6End = 54;
constexpr int32_t kProtoTcp = 6, kProtoUdp = 17;

constexpr int32_t kRuleSetShift = 5;
static_assert((1u << kRuleSetShift) == kMaxDropRules, "counter key = set << shift | rule");
// lr_steer counter slots
constexpr int32_t kSteerRedirected = 0, kSteerPassed = 1;

std::string L(const char* base, uint32_t i) { return std::string(base) + "_" + std::to_string(i); }

struct MapFds {
  int xsks, rules, active, drops, steer, steer_stats;
};

// fds < 0 produce the listing (maps shown as fd 0). broken: one unchecked
// packet load, for testing the verifier-refusal path
// (LINERATE_AF_XDP_TEST_VERIFIER=reject).
//
// Labels: "redirect" (to the queue's socket), "pass" (XDP_PASS, counted),
// "fallback" (a frame no rule or steering entry can match: to the socket when
// steering is off, as always, to the kernel when it is on), "steer".
void generate(Asm& a, const MapFds& m, bool broken = false) {
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
  a.note("steering off, frame untagged, not a fragment, steering key zeroed (20 bytes)");
  a.st(op::W, FP, kSteerOn, 0);
  a.st(op::W, FP, kSteerVlan, 0);
  a.st(op::W, FP, kFrameVlan, 0);
  a.st(op::W, FP, kFrag, 0);
  for (int16_t w = 0; w < 5; w++) a.st(op::W, FP, int16_t(kSteerKey + 4 * w), 0);

  a.note("r0 = lookup(active, &key): the control word (rule set, steering)");
  a.ld_map_fd(R1, fd(m.active));
  a.mov(R2, FP);
  a.add(R2, kKey);
  a.call(BPF_FUNC_map_lookup_elem);
  a.jmp(op::JEQ, R0, 0, "redirect");
  a.note("key = set = control.set");
  a.ldx(op::W, R1, R0, 0);
  a.stx(op::W, FP, kKey, R1);
  a.stx(op::W, FP, kSet, R1);
  a.note("steer_on = control.steer, steer_vlan = control.steer_vlan");
  a.ldx(op::W, R1, R0, 4);
  a.stx(op::W, FP, kSteerOn, R1);
  a.ldx(op::W, R1, R0, 8);
  a.stx(op::W, FP, kSteerVlan, R1);
  a.note("r9 = lookup(rules, &key): the rule set");
  a.ld_map_fd(R1, fd(m.rules));
  a.mov(R2, FP);
  a.add(R2, kKey);
  a.call(BPF_FUNC_map_lookup_elem);
  a.jmp(op::JEQ, R0, 0, "fallback");
  a.mov(R9, R0);
  a.note("r8 = rule count");
  a.ldx(op::W, R8, R9, 0);
  a.jmp(op::JNE, R8, 0, "parse");
  a.note("no rules and no steering: straight to the socket");
  a.ldx(op::W, R1, FP, kSteerOn);
  a.jmp(op::JEQ, R1, 0, "redirect");

  a.label("parse");
  a.note("r2 = data, r3 = data_end");
  a.ldx(op::W, R2, R6, XDP_MD_DATA);
  a.ldx(op::W, R3, R6, XDP_MD_DATA_END);
  if (broken) a.ldx(op::B, R0, R2, 0);
  a.note("Ethernet header present?");
  a.mov(R4, R2);
  a.add(R4, 14);
  a.jmp(op::JGT, R4, R3, "fallback");
  a.ldx(op::H, R5, R2, kEthType);
  a.jmp(op::JNE, R5, kEthVlan, "untagged");
  a.note("802.1Q tag present? frame_vlan = 0x10000 | VID (TCI bits 11..0, big-endian)");
  a.mov(R4, R2);
  a.add(R4, kVlanInnerType + 2);
  a.jmp(op::JGT, R4, R3, "fallback");
  a.ldx(op::B, R5, R2, kVlanTci);
  a.and_(R5, 0x0f);
  a.lsh(R5, 8);
  a.ldx(op::B, R4, R2, kVlanTci + 1);
  a.or_(R5, R4);
  a.or_(R5, 0x10000);
  a.stx(op::W, FP, kFrameVlan, R5);
  a.note("inner ethertype; from here r2 points 4 bytes on, so the untagged offsets hold");
  a.ldx(op::H, R5, R2, kVlanInnerType);
  a.add(R2, kVlanTagLen);
  a.label("untagged");
  a.jmp(op::JEQ, R5, kEthIpv4, "ipv4");
  a.jmp(op::JEQ, R5, kEthIpv6, "ipv6");
  a.note("not IP (ARP, a second VLAN tag, ...): never matches a rule or a steering entry");
  a.ja("fallback");

  a.label("ipv4");
  a.note("fixed IPv4 header present?");
  a.mov(R4, R2);
  a.add(R4, kIp4 + 20);
  a.jmp(op::JGT, R4, R3, "fallback");
  a.st(op::W, FP, kFamily, 4);
  a.ldx(op::B, R5, R2, kIp4Proto);
  a.stx(op::W, FP, kProto, R5);
  a.ldx(op::W, R5, R2, kIp4Src);
  a.stx(op::W, FP, kSrc, R5);
  a.note("destination address into the steering key");
  a.ldx(op::W, R5, R2, kIp4Dst);
  a.stx(op::W, FP, int16_t(kSteerKey + 4), R5);
  a.note("MF flag or fragment offset set (RFC 791 section 3.1): a fragment, never steered");
  a.ldx(op::H, R5, R2, kIp4Frag);
  a.mov(R4, R5);
  a.and_(R4, 0xff3f);
  a.jmp(op::JEQ, R4, 0, "whole4");
  a.st(op::W, FP, kFrag, 1);
  a.label("whole4");
  a.note("fragment offset != 0: no L4 header here");
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
  a.jmp(op::JGT, R4, R3, "fallback");
  a.st(op::W, FP, kFamily, 6);
  for (int16_t w = 0; w < 4; w++) {
    a.ldx(op::W, R4, R2, int16_t(kIp6Src + 4 * w));
    a.stx(op::W, FP, int16_t(kSrc + 4 * w), R4);
  }
  a.note("destination address into the steering key");
  for (int16_t w = 0; w < 4; w++) {
    a.ldx(op::W, R4, R2, int16_t(kIp6Dst + 4 * w));
    a.stx(op::W, FP, int16_t(kSteerKey + 4 + 4 * w), R4);
  }
  a.ldx(op::B, R5, R2, kIp6Next);
  a.stx(op::W, FP, kProto, R5);
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
  a.note("no rules, or a VLAN-tagged frame (rules match untagged frames only): on to steering");
  a.jmp(op::JEQ, R8, 0, "steer");
  a.ldx(op::W, R1, FP, kFrameVlan);
  a.jmp(op::JNE, R1, 0, "steer");
  for (uint32_t i = 0; i < kMaxDropRules; i++) {
    const int16_t o = int16_t(kRuleSetRulesOffset + 48 * i);
    const std::string next = i + 1 < kMaxDropRules ? L("rule", i + 1) : "steer";
    a.label(L("rule", i));
    a.note("rule " + std::to_string(i) + ": past the count -> steering");
    a.jmp(op::JLE, R8, int32_t(i), "steer");
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
  a.count_in_percpu_slot(fd(m.drops), kKey, "drop_exit");
  a.label("drop_exit");
  a.mov(R0, XDP_DROP);
  a.exit();

  a.label("steer");
  a.note("steering off: everything to the socket");
  a.ldx(op::W, R1, FP, kSteerOn);
  a.jmp(op::JEQ, R1, 0, "redirect");
  a.note("on the configured VLAN (or untagged), UDP, not a fragment, with a port?");
  a.ldx(op::W, R1, FP, kFrameVlan);
  a.ldx(op::W, R2, FP, kSteerVlan);
  a.jmp(op::JNE, R1, R2, "pass");
  a.ldx(op::W, R1, FP, kProto);
  a.jmp(op::JNE, R1, kProtoUdp, "pass");
  a.ldx(op::W, R1, FP, kFrag);
  a.jmp(op::JNE, R1, 0, "pass");
  a.ldx(op::W, R1, FP, kDport);
  a.jmp(op::JGT, R1, 0xffff, "pass");
  a.note("key = {family, 0, dport, destination}");
  a.stx(op::H, FP, int16_t(kSteerKey + 2), R1);
  a.ldx(op::W, R1, FP, kFamily);
  a.stx(op::B, FP, kSteerKey, R1);
  a.note("r0 = lookup(udp_steer, &key): a socket of linerate's?");
  a.ld_map_fd(R1, fd(m.steer));
  a.mov(R2, FP);
  a.add(R2, kSteerKey);
  a.call(BPF_FUNC_map_lookup_elem);
  a.jmp(op::JEQ, R0, 0, "pass");
  a.note("steer[redirected] += 1, then to the socket");
  a.st(op::W, FP, kKey, kSteerRedirected);
  a.count_in_percpu_slot(fd(m.steer_stats), kKey, "redirect");
  a.ja("redirect");

  a.label("fallback");
  a.note("no rule or steering entry can match this frame: as if none matched");
  a.ldx(op::W, R1, FP, kSteerOn);
  a.jmp(op::JEQ, R1, 0, "redirect");
  a.label("pass");
  a.note("steer[passed] += 1; XDP_PASS: the kernel's stack takes it");
  a.st(op::W, FP, kKey, kSteerPassed);
  a.count_in_percpu_slot(fd(m.steer_stats), kKey, "pass_exit");
  a.label("pass_exit");
  a.mov(R0, XDP_PASS);
  a.exit();

  a.label("redirect");
  a.note("return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)");
  a.ld_map_fd(R1, fd(m.xsks));
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
  fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, 4, sizeof(Control), 1, "lr_active");
  if (fd < 0) map_fail(scope, "active", fd);
  active_.reset(fd);
  fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 2 * kMaxDropRules, "lr_drops");
  if (fd < 0) map_fail(scope, "drops", fd);
  drops_.reset(fd);
  fd = bpf_map_create(BPF_MAP_TYPE_HASH, sizeof(SteerKey), 4, kMaxUdpSteerRules, "lr_udp_steer");
  if (fd < 0) map_fail(scope, "udp_steer", fd);
  steer_map_.reset(fd);
  fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 2, "lr_steer");
  if (fd < 0) map_fail(scope, "steer", fd);
  steer_stats_.reset(fd);

  Asm a;
  const char* test = std::getenv("LINERATE_AF_XDP_TEST_VERIFIER");
  generate(a, {xsks_.get(), rules_.get(), active_.get(), drops_.get(), steer_map_.get(), steer_stats_.get()},
           test && std::string(test) == "reject");
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
  Control c = control_;
  c.set = next;
  write_control(c);
  active_set_ = next;
  rules_set_ = set;
}

void XdpProgram::write_control(const Control& c) {
  const uint32_t zero = 0;
  const int r = bpf_map_update(active_.get(), &zero, &c);
  if (r < 0) fail("XDP_ATTACH_REFUSED", scope_ + ": cannot write the XDP program's control map: " + errno_text(-r));
  control_ = c;
}

void XdpProgram::set_udp_steering(const std::vector<UdpSteerRule>& rules, uint16_t vlan) {
  check_udp_steer(rules, vlan, scope_);
  std::vector<SteerKey> keys;
  for (const auto& rule : rules) {
    const SteerKey k = steer_key(rule);
    bool dup = false;
    for (const auto& have : keys) dup = dup || std::memcmp(&have, &k, sizeof k) == 0;
    if (!dup) keys.push_back(k);
  }
  // Add first, switch, then remove: a pair in both the old and the new set is
  // in the map at every moment (udp_steer.h).
  const uint32_t one = 1;
  for (const auto& k : keys) {
    const int r = bpf_map_update(steer_map_.get(), &k, &one);
    if (r < 0) fail("XDP_ATTACH_REFUSED", scope_ + ": cannot write the UDP steering map: " + errno_text(-r));
  }
  Control c = control_;
  c.steer = keys.empty() ? 0 : 1;
  c.steer_vlan = vlan ? 0x10000u | vlan : 0;
  write_control(c);
  for (const auto& old : steer_keys_) {
    bool kept = false;
    for (const auto& k : keys) kept = kept || std::memcmp(&old, &k, sizeof k) == 0;
    if (!kept) bpf_map_delete(steer_map_.get(), &old);  // ENOENT is fine: nothing to remove
  }
  steer_keys_ = std::move(keys);
}

uint64_t XdpProgram::steer_redirected() const { return bpf_percpu_sum(steer_stats_.get(), kSteerRedirected, ncpus_); }
uint64_t XdpProgram::steer_passed() const { return bpf_percpu_sum(steer_stats_.get(), kSteerPassed, ncpus_); }

std::vector<uint64_t> XdpProgram::drop_counts() const {
  std::vector<uint64_t> out(rules_set_.count, 0);
  for (uint32_t i = 0; i < rules_set_.count; i++) out[i] = bpf_percpu_sum(drops_.get(), (active_set_ << kRuleSetShift) | i, ncpus_);
  return out;
}

std::string XdpProgram::listing() {
  Asm a;
  generate(a, {-1, -1, -1, -1, -1, -1});
  return a.listing();
}

}  // namespace lr::xdp
