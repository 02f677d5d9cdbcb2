// The parts of the bpf() ABI the kernel-facing drivers use (af_xdp's XDP
// program and maps, af_packet's tcx program), written out so the build needs no
// kernel headers of a particular version: an old distro's linux-libc-dev lacks
// BPF_LINK_CREATE or BPF_TCX_INGRESS, and the values are ABI that never changes.
//
// Source: include/uapi/linux/bpf.h (Linux 6.x): enum bpf_cmd, union bpf_attr,
// enum bpf_map_type, enum bpf_prog_type, enum bpf_attach_type, enum xdp_action,
// enum tcx_action_base, __BPF_FUNC_MAPPER, struct xdp_md, struct bpf_insn.
#pragma once
#include <cstdint>

namespace lr::bpf {

// bpf() commands (enum bpf_cmd)
constexpr int BPF_MAP_CREATE = 0;
constexpr int BPF_MAP_LOOKUP_ELEM = 1;
constexpr int BPF_MAP_UPDATE_ELEM = 2;
constexpr int BPF_MAP_DELETE_ELEM = 3;
constexpr int BPF_PROG_LOAD = 5;
constexpr int BPF_LINK_CREATE = 28;

// enum bpf_map_type
constexpr uint32_t BPF_MAP_TYPE_HASH = 1;
constexpr uint32_t BPF_MAP_TYPE_ARRAY = 2;
constexpr uint32_t BPF_MAP_TYPE_PERCPU_ARRAY = 6;
constexpr uint32_t BPF_MAP_TYPE_XSKMAP = 17;

// enum bpf_prog_type, enum bpf_attach_type
constexpr uint32_t BPF_PROG_TYPE_SCHED_CLS = 3;
constexpr uint32_t BPF_PROG_TYPE_XDP = 6;
constexpr uint32_t BPF_XDP = 37;
constexpr uint32_t BPF_TCX_INGRESS = 46;  // Linux 6.6+ (tcx: tc BPF programs attached through BPF links)

// enum tcx_action_base: what a tcx program returns. TCX_DROP is TC_ACT_SHOT
// (include/uapi/linux/pkt_cls.h): the skb is freed.
constexpr int32_t TCX_NEXT = -1;
constexpr int32_t TCX_PASS = 0;
constexpr int32_t TCX_DROP = 2;

// enum xdp_action
constexpr int32_t XDP_ABORTED = 0;
constexpr int32_t XDP_DROP = 1;
constexpr int32_t XDP_PASS = 2;

// Helper ids (__BPF_FUNC_MAPPER order)
constexpr int32_t BPF_FUNC_map_lookup_elem = 1;
constexpr int32_t BPF_FUNC_redirect_map = 51;

// ld_imm64 with src_reg = BPF_PSEUDO_MAP_FD: imm is a map fd the verifier resolves
constexpr uint8_t BPF_PSEUDO_MAP_FD = 1;

// struct xdp_md: the program's context
constexpr int16_t XDP_MD_DATA = 0;
constexpr int16_t XDP_MD_DATA_END = 4;
constexpr int16_t XDP_MD_RX_QUEUE_INDEX = 16;

// BPF_MAP_UPDATE_ELEM flags
constexpr uint64_t BPF_ANY = 0;

struct bpf_insn {
  uint8_t code;
  uint8_t dst_reg : 4;
  uint8_t src_reg : 4;
  int16_t off;
  int32_t imm;
};
static_assert(sizeof(bpf_insn) == 8, "bpf.h: struct bpf_insn");

// The parts of union bpf_attr used here, each laid out as in bpf.h. The kernel
// takes the size we pass and requires every byte it knows past that to be zero.
struct bpf_map_create_attr {
  uint32_t map_type;
  uint32_t key_size;
  uint32_t value_size;
  uint32_t max_entries;
  uint32_t map_flags;
  uint32_t inner_map_fd;
  uint32_t numa_node;
  char map_name[16];
};

struct bpf_map_elem_attr {
  uint32_t map_fd;
  uint32_t pad;
  uint64_t key;
  uint64_t value;
  uint64_t flags;
};

struct bpf_prog_load_attr {
  uint32_t prog_type;
  uint32_t insn_cnt;
  uint64_t insns;
  uint64_t license;
  uint32_t log_level;
  uint32_t log_size;
  uint64_t log_buf;
  uint32_t kern_version;
  uint32_t prog_flags;
  char prog_name[16];
  uint32_t prog_ifindex;
  uint32_t expected_attach_type;
};

struct bpf_link_create_attr {
  uint32_t prog_fd;
  uint32_t target_ifindex;
  uint32_t attach_type;
  uint32_t flags;
};

}  // namespace lr::bpf
