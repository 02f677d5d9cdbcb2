// The bpf() system call, for the few commands the kernel-facing drivers need
// (include/uapi/linux/bpf.h: BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM,
// BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM, BPF_PROG_LOAD, BPF_LINK_CREATE). No libbpf.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "drivers/bpf/uapi.h"

namespace lr::bpf {

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Each returns the fd, or -errno.
int bpf_map_create(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const char* name);
int bpf_map_update(int map_fd, const void* key, const void* value, uint64_t flags = BPF_ANY);
int bpf_map_lookup(int map_fd, const void* key, void* value);
int bpf_map_delete(int map_fd, const void* key);
// Loads a program of prog_type for expected_attach_type; on failure the
// verifier log lands in *log.
int bpf_prog_load(uint32_t prog_type, uint32_t expected_attach_type, const std::vector<bpf_insn>& insns, const char* name,
                  std::string* log);
inline int bpf_prog_load_xdp(const std::vector<bpf_insn>& insns, const char* name, std::string* log) {
  return bpf_prog_load(BPF_PROG_TYPE_XDP, BPF_XDP, insns, name, log);
}
// BPF_LINK_CREATE of prog_fd to interface ifindex at attach_type (BPF_XDP,
// BPF_TCX_INGRESS): the program stays attached while the returned fd (or a copy
// of it) is open, so it goes away when the process dies.
int bpf_link_create(int prog_fd, int ifindex, uint32_t attach_type, uint32_t flags);
inline int bpf_xdp_link_create(int prog_fd, int ifindex, uint32_t xdp_flags) {
  return bpf_link_create(prog_fd, ifindex, BPF_XDP, xdp_flags);
}

// The u64 values of every CPU at `key` of a per-CPU array map, added up (0 when
// the lookup fails). ncpus = possible_cpus().
uint64_t bpf_percpu_sum(int map_fd, uint32_t key, int ncpus);

// CPUs the kernel may bring up (/sys/devices/system/cpu/possible): the number of
// values a per-CPU map lookup returns.
int possible_cpus();

}  // namespace lr::bpf
