#include "core/memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

namespace lr {

const char* page_kind_name(PageKind k) {
  switch (k) {
    case PageKind::Huge1G: return "1G";
    case PageKind::Huge2M: return "2M";
    case PageKind::Small: return "4K";
  }
  return "?";
}

namespace {

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

std::string size_dir(size_t page_size) {
  return "/sys/kernel/mm/hugepages/hugepages-" + std::to_string(page_size >> 10) + "kB";
}

std::string reserve_hint(size_t page_size, size_t bytes) {
  const size_t pages = round_up(bytes, page_size) / page_size;
  std::ostringstream s;
  s << "reserve them as root: echo " << pages << " > " << size_dir(page_size) << "/nr_hugepages"
    << " (or run: linerate doctor)";
  return s.str();
}

// Anonymous hugepage mapping. MAP_HUGETLB reserves the pages at mmap time
// (no MAP_NORESERVE), so a short pool fails here with ENOMEM rather than with a
// SIGBUS on first touch (Documentation/admin-guide/mm/hugetlbpage.rst).
void* map_hugetlb(size_t bytes, size_t page_size, int* err) {
  int log2 = __builtin_ctzll(page_size);
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE | (log2 << MAP_HUGE_SHIFT);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
  *err = p == MAP_FAILED ? errno : 0;
  return p == MAP_FAILED ? nullptr : p;
}

// A file on a mounted hugetlbfs, unlinked at once so nothing is left behind.
void* map_hugetlbfs(const std::string& dir, size_t bytes, int* err) {
  std::string path = dir + "/linerate.XXXXXX";
  int fd = mkstemp(path.data());
  if (fd < 0) {
    *err = errno;
    return nullptr;
  }
  unlink(path.c_str());
  void* p = nullptr;
  if (ftruncate(fd, off_t(bytes)) == 0) {
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) p = nullptr;
  }
  *err = p ? 0 : errno;
  close(fd);
  return p;
}

}  // namespace

uint64_t free_hugepages(size_t page_size) {
  std::ifstream f(size_dir(page_size) + "/free_hugepages");
  uint64_t n = 0;
  if (f >> n) return n;
  return 0;
}

std::string hugetlbfs_mount(size_t page_size) {
  std::ifstream f("/proc/mounts");
  std::string dev, dir, type, opts, rest;
  while (f >> dev >> dir >> type >> opts) {
    std::getline(f, rest);
    if (type != "hugetlbfs") continue;
    // The default page size is 2 MiB on x86-64 when no pagesize= option is given.
    size_t ps = size_t(2) << 20;
    auto at = opts.find("pagesize=");
    if (at != std::string::npos) {
      std::string v = opts.substr(at + 9);
      ps = std::stoull(v) * ((v.find('G') != std::string::npos) ? (size_t(1) << 30) : (size_t(1) << 20));
    }
    if (ps == page_size && access(dir.c_str(), W_OK) == 0) return dir;
  }
  return {};
}

Region& Region::operator=(Region&& o) noexcept {
  if (this != &o) {
    // Release our mapping only: calling ~Region() here would also destroy the
    // string members, and assigning to them afterwards is use-after-free.
    if (base_) munmap(base_, mapped_);
    base_ = o.base_;
    size_ = o.size_;
    mapped_ = o.mapped_;
    kind_ = o.kind_;
    locked_ = o.locked_;
    source_ = std::move(o.source_);
    warning_ = std::move(o.warning_);
    o.base_ = nullptr;
    o.size_ = o.mapped_ = 0;
  }
  return *this;
}

Region::~Region() {
  if (base_) munmap(base_, mapped_);
  base_ = nullptr;
}

Region Region::allocate(const RegionOptions& opts) {
  if (opts.bytes == 0) fail("INVALID_OPTION", "memory region of 0 bytes requested");
  Region r;
  r.size_ = opts.bytes;
  std::string why;
  if (opts.hugepages != HugepagePolicy::Off) {
    const size_t ps = opts.hugepage_size;
    const size_t bytes = round_up(opts.bytes, ps);
    int err = 0;
    void* p = map_hugetlb(bytes, ps, &err);
    if (p) {
      r.source_ = std::string("MAP_HUGETLB ") + (ps >= (size_t(1) << 30) ? "1GiB" : "2MiB");
    } else {
      std::string mnt = hugetlbfs_mount(ps);
      if (!mnt.empty()) {
        int err2 = 0;
        p = map_hugetlbfs(mnt, bytes, &err2);
        if (p) r.source_ = "hugetlbfs " + mnt;
        else err = err2;
      }
    }
    if (p) {
      r.base_ = static_cast<uint8_t*>(p);
      r.mapped_ = bytes;
      r.kind_ = ps >= (size_t(1) << 30) ? PageKind::Huge1G : PageKind::Huge2M;
      // Hugepages are never swapped; mlock only pins the accounting.
      r.locked_ = true;
      return r;
    }
    std::ostringstream s;
    s << "no " << (ps >> 20) << " MiB hugepages for " << (bytes >> 20) << " MiB (free: " << free_hugepages(ps)
      << ", " << errno_text(err) << "); " << reserve_hint(ps, bytes);
    why = s.str();
    if (opts.hugepages == HugepagePolicy::Require) fail("HUGEPAGES_UNAVAILABLE", why);
  }
  // Fallback: 4 KiB pages, populated now so the poll loop never page-faults, and
  // locked when RLIMIT_MEMLOCK allows so they are never swapped out.
  const size_t bytes = round_up(opts.bytes, 4096);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) {
    fail("MEMORY_UNAVAILABLE", "cannot map " + std::to_string(bytes >> 20) + " MiB: " + errno_text(errno) +
                                   "; lower mempool.mbufs or free memory");
  }
  r.base_ = static_cast<uint8_t*>(p);
  r.mapped_ = bytes;
  r.kind_ = PageKind::Small;
  r.source_ = "4KiB anonymous";
  r.locked_ = mlock(p, bytes) == 0;
  if (opts.hugepages == HugepagePolicy::Off) {
    why = "hugepages disabled by option (hugepages: 'off')";
  }
  if (!r.locked_) {
    why += (why.empty() ? "" : "; ") + std::string("pages not locked (") + errno_text(errno) +
           "): raise the limit with ulimit -l unlimited or grant CAP_IPC_LOCK";
  }
  r.warning_ = why;
  return r;
}

}  // namespace lr
