#include "drivers/bpf/sys.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace lr::bpf {

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace {

template <typename Attr>
int sys_bpf(int cmd, Attr& attr) {
  long r = syscall(__NR_bpf, cmd, &attr, sizeof attr);
  return r < 0 ? -errno : int(r);
}

void copy_name(char (&dst)[16], const char* name) {
  std::strncpy(dst, name, sizeof dst - 1);
}

}  // namespace

int bpf_map_create(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const char* name) {
  bpf_map_create_attr a{};
  a.map_type = type;
  a.key_size = key_size;
  a.value_size = value_size;
  a.max_entries = max_entries;
  copy_name(a.map_name, name);
  int fd = sys_bpf(BPF_MAP_CREATE, a);
  if (fd == -EINVAL) {
    // Kernels before 4.15 know no map names.
    std::memset(a.map_name, 0, sizeof a.map_name);
    fd = sys_bpf(BPF_MAP_CREATE, a);
  }
  return fd;
}

int bpf_map_update(int map_fd, const void* key, const void* value, uint64_t flags) {
  bpf_map_elem_attr a{};
  a.map_fd = uint32_t(map_fd);
  a.key = uint64_t(uintptr_t(key));
  a.value = uint64_t(uintptr_t(value));
  a.flags = flags;
  return sys_bpf(BPF_MAP_UPDATE_ELEM, a);
}

int bpf_map_lookup(int map_fd, const void* key, void* value) {
  bpf_map_elem_attr a{};
  a.map_fd = uint32_t(map_fd);
  a.key = uint64_t(uintptr_t(key));
  a.value = uint64_t(uintptr_t(value));
  return sys_bpf(BPF_MAP_LOOKUP_ELEM, a);
}

int bpf_map_delete(int map_fd, const void* key) {
  bpf_map_elem_attr a{};
  a.map_fd = uint32_t(map_fd);
  a.key = uint64_t(uintptr_t(key));
  return sys_bpf(BPF_MAP_DELETE_ELEM, a);
}

int bpf_prog_load(uint32_t prog_type, uint32_t expected_attach_type, const std::vector<bpf_insn>& insns, const char* name,
                  std::string* log) {
  static const char license[] = "Dual MIT/GPL";  // the project's MIT, GPL-compatible for the kernel
  bpf_prog_load_attr a{};
  a.prog_type = prog_type;
  a.insn_cnt = uint32_t(insns.size());
  a.insns = uint64_t(uintptr_t(insns.data()));
  a.license = uint64_t(uintptr_t(license));
  a.expected_attach_type = expected_attach_type;
  copy_name(a.prog_name, name);
  int fd = sys_bpf(BPF_PROG_LOAD, a);
  if (fd >= 0 || !log) return fd;
  // Load again with the verifier's log on, for the error message.
  std::vector<char> buf(1 << 20, 0);
  a.log_level = 1;
  a.log_size = uint32_t(buf.size());
  a.log_buf = uint64_t(uintptr_t(buf.data()));
  int again = sys_bpf(BPF_PROG_LOAD, a);
  if (again >= 0) return again;  // passed with the log on: take it
  *log = buf.data();
  return fd;
}

int bpf_link_create(int prog_fd, int ifindex, uint32_t attach_type, uint32_t flags) {
  bpf_link_create_attr a{};
  a.prog_fd = uint32_t(prog_fd);
  a.target_ifindex = uint32_t(ifindex);
  a.attach_type = attach_type;
  a.flags = flags;
  return sys_bpf(BPF_LINK_CREATE, a);
}

uint64_t bpf_percpu_sum(int map_fd, uint32_t key, int ncpus) {
  // A per-CPU lookup returns one 8-byte value per possible CPU.
  std::vector<uint64_t> per_cpu(size_t(ncpus), 0);
  if (bpf_map_lookup(map_fd, &key, per_cpu.data()) < 0) return 0;
  uint64_t n = 0;
  for (uint64_t v : per_cpu) n += v;
  return n;
}

int possible_cpus() {
  // "0-3" or "0,2-5": the highest number plus one.
  FILE* f = std::fopen("/sys/devices/system/cpu/possible", "r");
  int max = -1;
  if (f) {
    char buf[256] = {};
    if (std::fgets(buf, sizeof buf, f)) {
      int cur = 0;
      bool in = false;
      for (char* p = buf; *p; p++) {
        if (*p >= '0' && *p <= '9') {
          cur = (in ? cur * 10 : 0) + (*p - '0');
          in = true;
        } else {
          if (in && cur > max) max = cur;
          in = false;
        }
      }
      if (in && cur > max) max = cur;
    }
    std::fclose(f);
  }
  if (max < 0) {
    long n = sysconf(_SC_NPROCESSORS_CONF);
    return n > 0 ? int(n) : 1;
  }
  return max + 1;
}

}  // namespace lr::bpf
