// The vfio container and groups (Documentation/driver-api/vfio.rst): one
// container per IOMMU type per process (type1, or no-IOMMU), holding the DMA
// mappings; one Group per IOMMU group, attached to the container. Shared by
// every Device of the process and released with the last one.
#pragma once
#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "drivers/vfio/host.h"
#include "drivers/vfio/vfio.h"

namespace lr::vfio {

class Container {
 public:
  static std::shared_ptr<Container> get(bool no_iommu) {
    static std::mutex mu;
    static std::weak_ptr<Container> slots[2];
    std::lock_guard<std::mutex> g(mu);
    if (auto c = slots[no_iommu].lock()) return c;
    auto c = std::shared_ptr<Container>(new Container(no_iommu));
    slots[no_iommu] = c;
    return c;
  }
  ~Container() {
    for (auto& [va, m] : maps_) unmap_now(va, m.len);
    if (fd_ >= 0) ::close(fd_);
  }

  int fd() const { return fd_; }
  std::mutex& mu() { return mu_; }

  // Called with the group's fd once it joined: the first group sets the IOMMU type.
  void attached(const std::string& scope) {
    if (iommu_set_) return;
    if (ioctl(fd_, VFIO_SET_IOMMU, type_) != 0)
      fail("VFIO_SETUP", scope + ": VFIO_SET_IOMMU failed: " + errno_text(errno) + "; check dmesg | grep -i -e vfio -e dmar");
    iommu_set_ = true;
    if (type_ != VFIO_NOIOMMU_IOMMU) read_iova_ranges();
  }

  void map(const void* va, size_t len, const std::string& scope) {
    std::lock_guard<std::mutex> g(mu_);
    const uintptr_t a = reinterpret_cast<uintptr_t>(va);
    auto it = maps_.find(a);
    if (it != maps_.end()) {
      if (it->second.len < len)
        fail("VFIO_SETUP", scope + ": DMA range at " + hex(a) + " is mapped already with a smaller length");
      it->second.refs++;
      return;
    }
    if (type_ == VFIO_NOIOMMU_IOMMU) {
      maps_[a] = {len, 1};
      return;
    }
    // Pinned pages count against RLIMIT_MEMLOCK unless we hold CAP_IPC_LOCK
    // (drivers/vfio/vfio_iommu_type1.c, vfio_lock_acct).
    if (!has_ipc_lock()) {
      rlimit rl{};
      getrlimit(RLIMIT_MEMLOCK, &rl);
      if (rl.rlim_cur != RLIM_INFINITY && total_ + len > rl.rlim_cur)
        fail("MEMLOCK_LIMIT", scope + ": DMA-mapping " + std::to_string((total_ + len) >> 20) +
                                  " MiB needs a locked-memory limit that large (ulimit -l is " + std::to_string(rl.rlim_cur >> 10) +
                                  " KiB); run: ulimit -l unlimited (or grant CAP_IPC_LOCK)");
    }
    bool fits = iova_ranges_.empty();
    for (auto& r : iova_ranges_)
      if (a >= r.first && a + len - 1 <= r.second) fits = true;
    if (!fits) {
      std::string ranges;
      for (auto& r : iova_ranges_) ranges += (ranges.empty() ? "" : ", ") + hex(r.first) + "-" + hex(r.second);
      fail("VFIO_SETUP", scope + ": memory at " + hex(a) + " (+" + std::to_string(len) +
                             ") is outside the IOVA ranges the IOMMU accepts (" + ranges +
                             "); linerate maps IOVA = virtual address and needs a 48-bit IOMMU address width");
    }
    vfio_iommu_type1_dma_map m{};
    m.argsz = sizeof m;
    m.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    m.vaddr = a;
    m.iova = a;
    m.size = len;
    if (ioctl(fd_, VFIO_IOMMU_MAP_DMA, &m) != 0) {
      const int e = errno;
      if (e == ENOMEM)
        fail("MEMLOCK_LIMIT", scope + ": VFIO_IOMMU_MAP_DMA of " + std::to_string(len >> 20) + " MiB failed: " + errno_text(e) +
                                  "; raise the locked-memory limit: ulimit -l unlimited");
      fail("VFIO_SETUP", scope + ": VFIO_IOMMU_MAP_DMA at " + hex(a) + " (+" + std::to_string(len) + ") failed: " + errno_text(e));
    }
    maps_[a] = {len, 1};
    total_ += len;
  }

  void unmap(const void* va) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = maps_.find(reinterpret_cast<uintptr_t>(va));
    if (it == maps_.end()) return;
    if (--it->second.refs > 0) return;
    if (type_ != VFIO_NOIOMMU_IOMMU) {
      unmap_now(it->first, it->second.len);
      total_ -= it->second.len;
    }
    maps_.erase(it);
  }

  size_t mapped_bytes() {
    std::lock_guard<std::mutex> g(mu_);
    return total_;
  }

 private:
  struct Mapping {
    size_t len;
    int refs;
  };

  explicit Container(bool no_iommu) {
    fd_ = ::open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    if (fd_ < 0)
      fail("VFIO_UNAVAILABLE", "cannot open /dev/vfio/vfio: " + errno_text(errno) + "; load the module: modprobe vfio-pci");
    const int api = ioctl(fd_, VFIO_GET_API_VERSION);
    if (api != VFIO_API_VERSION)
      fail("VFIO_UNAVAILABLE", "VFIO API version " + std::to_string(api) + " is not the version " +
                                   std::to_string(VFIO_API_VERSION) + " linerate speaks");
    if (no_iommu) {
      if (ioctl(fd_, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU) != 1)
        fail("VFIO_UNAVAILABLE", "vfio has no no-IOMMU support; run: echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode");
      type_ = VFIO_NOIOMMU_IOMMU;
    } else if (ioctl(fd_, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1) {
      type_ = VFIO_TYPE1v2_IOMMU;
    } else if (ioctl(fd_, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) == 1) {
      type_ = VFIO_TYPE1_IOMMU;
    } else {
      fail("VFIO_UNAVAILABLE", "vfio offers no type1 IOMMU backend; run: modprobe vfio_iommu_type1");
    }
  }

  void read_iova_ranges() {
    std::vector<uint8_t> buf(sizeof(vfio_iommu_type1_info));
    auto* info = reinterpret_cast<vfio_iommu_type1_info*>(buf.data());
    info->argsz = uint32_t(buf.size());
    if (ioctl(fd_, VFIO_IOMMU_GET_INFO, info) != 0) return;
    if (info->argsz > buf.size()) {
      const uint32_t want = info->argsz;
      buf.assign(want, 0);
      info = reinterpret_cast<vfio_iommu_type1_info*>(buf.data());
      info->argsz = want;
      if (ioctl(fd_, VFIO_IOMMU_GET_INFO, info) != 0) return;
    }
    if (!(info->flags & VFIO_IOMMU_INFO_CAPS) || !info->cap_offset) return;
    uint32_t off = info->cap_offset;
    while (off && off + sizeof(vfio_info_cap_header) <= buf.size()) {
      auto* h = reinterpret_cast<vfio_info_cap_header*>(buf.data() + off);
      if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
        auto* r = reinterpret_cast<vfio_iommu_type1_info_cap_iova_range*>(h);
        for (uint32_t i = 0; i < r->nr_iovas; i++) iova_ranges_.push_back({r->iova_ranges[i].start, r->iova_ranges[i].end});
      }
      off = h->next;
    }
  }

  void unmap_now(uintptr_t a, size_t len) {
    if (type_ == VFIO_NOIOMMU_IOMMU) return;
    vfio_iommu_type1_dma_unmap u{};
    u.argsz = sizeof u;
    u.iova = a;
    u.size = len;
    ioctl(fd_, VFIO_IOMMU_UNMAP_DMA, &u);
  }

  int fd_ = -1;
  int type_ = 0;
  bool iommu_set_ = false;
  std::mutex mu_;
  std::map<uintptr_t, Mapping> maps_;
  size_t total_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> iova_ranges_;
};

class Group {
 public:
  static std::shared_ptr<Group> get(int number, bool no_iommu, std::shared_ptr<Container> c, const std::string& scope) {
    static std::mutex mu;
    static std::map<std::string, std::weak_ptr<Group>> groups;
    const std::string path = no_iommu ? "/dev/vfio/noiommu-" + std::to_string(number) : "/dev/vfio/" + std::to_string(number);
    std::lock_guard<std::mutex> g(mu);
    if (auto grp = groups[path].lock()) return grp;
    auto grp = std::shared_ptr<Group>(new Group());
    grp->number_ = number;
    grp->fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (grp->fd_ < 0) {
      const int e = errno;
      if (e == EBUSY) {
        const std::string who = holders_of(path);
        fail("DEVICE_IN_USE", scope + ": " + path + " is held by another process" + (who.empty() ? "" : ": " + who) +
                                  "; a vfio device has one owner at a time: stop that process first");
      }
      if (e == ENOENT)
        fail("VFIO_UNAVAILABLE", scope + ": " + path + " does not exist; is the device bound to vfio-pci? run: linerate bind <pci>");
      fail("VFIO_SETUP", scope + ": cannot open " + path + ": " + errno_text(e) + (e == EACCES || e == EPERM ? "; run as root" : ""));
    }
    vfio_group_status st{};
    st.argsz = sizeof st;
    if (ioctl(grp->fd_, VFIO_GROUP_GET_STATUS, &st) != 0)
      fail("VFIO_SETUP", scope + ": VFIO_GROUP_GET_STATUS failed: " + errno_text(errno));
    if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE))
      fail("GROUP_NOT_VIABLE", scope + ": IOMMU group " + std::to_string(number) +
                                   " is not viable: a device in it is bound to a kernel driver; see: linerate devices, then linerate bind <each device of the group>");
    if (!(st.flags & VFIO_GROUP_FLAGS_CONTAINER_SET)) {
      int cfd = c->fd();
      if (ioctl(grp->fd_, VFIO_GROUP_SET_CONTAINER, &cfd) != 0)
        fail("VFIO_SETUP", scope + ": VFIO_GROUP_SET_CONTAINER failed: " + errno_text(errno));
    }
    c->attached(scope);
    grp->container_ = std::move(c);
    groups[path] = grp;
    return grp;
  }
  ~Group() {
    if (fd_ >= 0) {
      ioctl(fd_, VFIO_GROUP_UNSET_CONTAINER);
      ::close(fd_);
    }
  }
  int fd() const { return fd_; }

 private:
  Group() = default;
  int number_ = -1;
  int fd_ = -1;
  std::shared_ptr<Container> container_;  // outlives the group
};

}  // namespace lr::vfio
