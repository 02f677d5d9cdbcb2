#include "drivers/vfio/vfio.h"

#include <dirent.h>
#include <algorithm>
#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "core/error.h"
#include "drivers/vfio/pci_regs.h"

namespace lr::vfio {

namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// basename(readlink(path)), empty when it is not a link.
std::string link_name(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return {};
  buf[n] = 0;
  const char* slash = strrchr(buf, '/');
  return slash ? slash + 1 : buf;
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> v;
  if (DIR* d = opendir(path.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') v.push_back(e->d_name);
    closedir(d);
  }
  std::sort(v.begin(), v.end());
  return v;
}

std::string sysdev(const std::string& pci) { return "/sys/bus/pci/devices/" + pci; }

// Interface names of a PCI device (net/<if>, or virtioN/net/<if>).
std::string interfaces_of(const std::string& pci) {
  std::string out;
  auto add = [&](const std::string& dir) {
    for (auto& n : list_dir(dir + "/net")) out += (out.empty() ? "" : ", ") + n;
  };
  add(sysdev(pci));
  for (auto& e : list_dir(sysdev(pci)))
    if (e.rfind("virtio", 0) == 0) add(sysdev(pci) + "/" + e);
  return out;
}

// "0000:00:03.0" from "00:03.0" or "0000:00:03.0" (lower case); INVALID_OPTION otherwise.
std::string normalize(const std::string& in, const std::string& scope) {
  std::string s;
  for (char c : in) s += char(tolower(static_cast<unsigned char>(c)));
  unsigned dom = 0, bus, dev, fn;
  char tail;
  int n = sscanf(s.c_str(), "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail);
  if (n != 4) {
    dom = 0;
    n = sscanf(s.c_str(), "%x:%x.%x%c", &bus, &dev, &fn, &tail);
    if (n != 3) fail("INVALID_OPTION", scope + ": option 'pci' must be a PCI address like 0000:00:03.0, got '" + in + "'; list NICs with: linerate devices");
  }
  if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7)
    fail("INVALID_OPTION", scope + ": option 'pci' is not a valid PCI address: '" + in + "'");
  char buf[32];
  snprintf(buf, sizeof buf, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
  return buf;
}

// Processes that hold a file open, as "pid (comm)".
std::string holders_of(const std::string& file) {
  std::string out;
  for (auto& pid : list_dir("/proc")) {
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (pid == std::to_string(getpid())) continue;
    for (auto& fd : list_dir("/proc/" + pid + "/fd")) {
      char buf[512];
      ssize_t n = readlink(("/proc/" + pid + "/fd/" + fd).c_str(), buf, sizeof buf - 1);
      if (n > 0 && std::string(buf, size_t(n)) == file) {
        out += (out.empty() ? "" : ", ") + pid + " (" + read_text("/proc/" + pid + "/comm") + ")";
        break;
      }
    }
  }
  return out;
}

std::string hex(uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

}  // namespace

bool has_ipc_lock() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      const uint64_t caps = std::stoull(line.substr(7), nullptr, 16);
      return (caps >> 14) & 1;  // CAP_IPC_LOCK, include/uapi/linux/capability.h
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// Container and groups: one container per IOMMU type per process.

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

// ---------------------------------------------------------------------------
// Preflight.

int check_device(const std::string& pci_in, const OpenOptions& o) {
  const std::string& scope = o.scope;
  const std::string pci = normalize(pci_in, scope);
  const std::string dev = sysdev(pci);
  if (!exists(dev)) fail("DEVICE_NOT_FOUND", scope + ": no PCI device " + pci + "; list the NICs with: linerate devices");
  if (!exists("/dev/vfio/vfio") || !exists("/sys/bus/pci/drivers/vfio-pci"))
    fail("VFIO_UNAVAILABLE", scope + ": the vfio-pci driver is not loaded (no " +
                                 std::string(exists("/dev/vfio/vfio") ? "/sys/bus/pci/drivers/vfio-pci" : "/dev/vfio/vfio") +
                                 "); run: modprobe vfio-pci, then: linerate bind " + pci);
  const std::string drv = link_name(dev + "/driver");
  if (drv != "vfio-pci") {
    const std::string ifs = interfaces_of(pci);
    if (drv.empty())
      fail("DEVICE_BOUND_TO_KERNEL", scope + ": " + pci + " is bound to no driver, not to vfio-pci; run: linerate bind " + pci);
    fail("DEVICE_BOUND_TO_KERNEL", scope + ": " + pci + " is bound to the kernel driver " + drv +
                                       (ifs.empty() ? "" : " (interface " + ifs + ")") +
                                       ", not to vfio-pci: linerate would see no packets. Hand it over with: linerate bind " + pci);
  }
  const std::string grp = link_name(dev + "/iommu_group");
  if (grp.empty())
    fail("IOMMU_OFF", scope + ": " + pci + " has no IOMMU group: the IOMMU is off. Enable VT-d/AMD-Vi in the firmware and boot with "
                                    "intel_iommu=on (Intel) or amd_iommu=on (AMD) on the kernel command line");
  const int number = std::stoi(grp);
  const bool noiommu_group = exists("/dev/vfio/noiommu-" + grp);
  if (noiommu_group && !o.no_iommu)
    fail("IOMMU_OFF", scope + ": " + pci + " is in a no-IOMMU vfio group (the IOMMU is off and vfio's unsafe no-IOMMU mode is on). "
                                    "Enable the IOMMU (intel_iommu=on or amd_iommu=on), or accept unprotected DMA with the option noIommu: true");
  std::string others;
  for (auto& member : list_dir("/sys/kernel/iommu_groups/" + grp + "/devices")) {
    if (member == pci) continue;
    const std::string d = link_name("/sys/kernel/iommu_groups/" + grp + "/devices/" + member + "/driver");
    // vfio accepts devices with no driver, vfio-pci, and PCIe port drivers in a group.
    if (!d.empty() && d != "vfio-pci" && d != "pcieport") others += (others.empty() ? "" : ", ") + member + " (" + d + ")";
  }
  if (!others.empty())
    fail("GROUP_NOT_VIABLE", scope + ": IOMMU group " + grp + " of " + pci + " also holds " + others +
                                 ", bound to kernel drivers; vfio needs every device of a group: linerate bind each of them (or unbind them)");
  return number;
}

// ---------------------------------------------------------------------------
// Device.

std::unique_ptr<Device> Device::open(const std::string& pci_in, const OpenOptions& o) {
  const int number = check_device(pci_in, o);
  std::unique_ptr<Device> d(new Device());
  d->pci_ = normalize(pci_in, o.scope);
  d->scope_ = o.scope;
  d->group_number_ = number;
  d->no_iommu_ = o.no_iommu && exists("/dev/vfio/noiommu-" + std::to_string(number));
  d->container_ = Container::get(d->no_iommu_);
  d->group_ = Group::get(number, d->no_iommu_, d->container_, o.scope);
  d->fd_ = ioctl(d->group_->fd(), VFIO_GROUP_GET_DEVICE_FD, d->pci_.c_str());
  if (d->fd_ < 0) {
    const int e = errno;
    fail(e == EBUSY ? "DEVICE_IN_USE" : "VFIO_SETUP",
         o.scope + ": VFIO_GROUP_GET_DEVICE_FD " + d->pci_ + " failed: " + errno_text(e) +
             (e == EBUSY ? "; another port of this process or another process has it open" : ""));
  }
  vfio_device_info info{};
  info.argsz = sizeof info;
  if (ioctl(d->fd_, VFIO_DEVICE_GET_INFO, &info) != 0) fail("VFIO_SETUP", o.scope + ": VFIO_DEVICE_GET_INFO failed: " + errno_text(errno));
  if (!(info.flags & VFIO_DEVICE_FLAGS_PCI)) fail("DEVICE_UNSUPPORTED", o.scope + ": " + d->pci_ + " is not a vfio PCI device");
  d->can_reset_ = info.flags & VFIO_DEVICE_FLAGS_RESET;
  d->num_regions_ = info.num_regions;
  vfio_region_info cfg{};
  cfg.argsz = sizeof cfg;
  cfg.index = VFIO_PCI_CONFIG_REGION_INDEX;
  if (ioctl(d->fd_, VFIO_DEVICE_GET_REGION_INFO, &cfg) != 0)
    fail("VFIO_SETUP", o.scope + ": cannot find the config region: " + errno_text(errno));
  d->cfg_offset_ = cfg.offset;
  vfio_irq_info irq{};
  irq.argsz = sizeof irq;
  irq.index = VFIO_PCI_MSIX_IRQ_INDEX;
  if (info.num_irqs > VFIO_PCI_MSIX_IRQ_INDEX && ioctl(d->fd_, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0) d->msix_count_ = irq.count;
  d->vendor_ = d->cfg_read16(pci::kVendorId);
  d->device_ = d->cfg_read16(pci::kDeviceId);
  if (d->no_iommu_)
    fprintf(stderr, "linerate: warning: %s: %s runs in vfio no-IOMMU mode: the device can DMA anywhere in memory (noIommu: true)\n",
            o.scope.c_str(), d->pci_.c_str());
  // A previous owner (even one killed with -9) may have left it running: reset first.
  d->reset();
  return d;
}

Device::~Device() { close(); }

void Device::close() {
  if (fd_ < 0) return;
  disable_msix();
  set_bus_master(false);
  reset();
  for (auto& b : bars_) {
    if (b.ptr_) munmap(const_cast<uint8_t*>(b.ptr_), b.size_);
    b = Bar{};
  }
  for (const void* va : mapped_) container_->unmap(va);
  mapped_.clear();
  phys_.clear();
  dma_regions_.clear();
  ::close(fd_);
  fd_ = -1;
  group_.reset();
  container_.reset();
}

uint8_t Device::cfg_read8(uint32_t off) const {
  uint8_t v = 0xff;
  if (pread(fd_, &v, 1, off_t(cfg_offset_ + off)) != 1) return 0xff;
  return v;
}
uint16_t Device::cfg_read16(uint32_t off) const {
  uint16_t v = 0xffff;
  if (pread(fd_, &v, 2, off_t(cfg_offset_ + off)) != 2) return 0xffff;
  return v;
}
uint32_t Device::cfg_read32(uint32_t off) const {
  uint32_t v = ~0u;
  if (pread(fd_, &v, 4, off_t(cfg_offset_ + off)) != 4) return ~0u;
  return v;
}
void Device::cfg_write16(uint32_t off, uint16_t v) const {
  if (pwrite(fd_, &v, 2, off_t(cfg_offset_ + off)) != 2) fail("VFIO_SETUP", scope_ + ": config write at " + hex(off) + " failed: " + errno_text(errno));
}
void Device::cfg_write32(uint32_t off, uint32_t v) const {
  if (pwrite(fd_, &v, 4, off_t(cfg_offset_ + off)) != 4) fail("VFIO_SETUP", scope_ + ": config write at " + hex(off) + " failed: " + errno_text(errno));
}

std::vector<uint32_t> Device::find_caps(uint8_t id) const {
  std::vector<uint32_t> v;
  if (!(cfg_read16(pci::kStatus) & pci::kStatusCapList)) return v;
  uint32_t p = cfg_read8(pci::kCapPointer) & 0xfc;
  for (int guard = 0; p && guard < 48; guard++) {
    if (cfg_read8(p) == id) v.push_back(p);
    p = cfg_read8(p + 1) & 0xfc;
  }
  return v;
}

void Device::map_bar(int i) {
  vfio_region_info r{};
  r.argsz = sizeof r;
  r.index = uint32_t(i);
  if (ioctl(fd_, VFIO_DEVICE_GET_REGION_INFO, &r) != 0 || r.size == 0)
    fail("DEVICE_UNSUPPORTED", scope_ + ": " + pci_ + " has no BAR " + std::to_string(i));
  Bar& b = bars_[i];
  b.fd_ = fd_;
  b.fd_offset_ = r.offset;
  b.size_ = r.size;
  if (r.flags & VFIO_REGION_INFO_FLAG_MMAP) {
    void* p = mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, off_t(r.offset));
    if (p != MAP_FAILED) b.ptr_ = static_cast<volatile uint8_t*>(p);
  }
  // Otherwise (an I/O BAR, or a BAR whose MSI-X table makes it unmappable) every
  // access is a pread/pwrite on the device fd: slower, still correct.
}

const Bar& Device::bar(int i) {
  if (i < 0 || i > 5) fail("DEVICE_UNSUPPORTED", scope_ + ": BAR index " + std::to_string(i));
  if (!bars_[i].valid()) map_bar(i);
  return bars_[i];
}

uint32_t Bar::read32(uint32_t off) const {
  if (ptr_) return *reinterpret_cast<volatile uint32_t*>(ptr_ + off);
  uint32_t v = ~0u;
  if (pread(fd_, &v, 4, off_t(fd_offset_ + off)) != 4) return ~0u;
  return v;
}
void Bar::write32(uint32_t off, uint32_t v) const {
  if (ptr_) {
    *reinterpret_cast<volatile uint32_t*>(ptr_ + off) = v;
    return;
  }
  (void)!pwrite(fd_, &v, 4, off_t(fd_offset_ + off));
}
uint16_t Bar::read16(uint32_t off) const {
  if (ptr_) return *reinterpret_cast<volatile uint16_t*>(ptr_ + off);
  uint16_t v = 0xffff;
  if (pread(fd_, &v, 2, off_t(fd_offset_ + off)) != 2) return 0xffff;
  return v;
}
void Bar::write16(uint32_t off, uint16_t v) const {
  if (ptr_) {
    *reinterpret_cast<volatile uint16_t*>(ptr_ + off) = v;
    return;
  }
  (void)!pwrite(fd_, &v, 2, off_t(fd_offset_ + off));
}
uint8_t Bar::read8(uint32_t off) const {
  if (ptr_) return ptr_[off];
  uint8_t v = 0xff;
  if (pread(fd_, &v, 1, off_t(fd_offset_ + off)) != 1) return 0xff;
  return v;
}
void Bar::write8(uint32_t off, uint8_t v) const {
  if (ptr_) {
    ptr_[off] = v;
    return;
  }
  (void)!pwrite(fd_, &v, 1, off_t(fd_offset_ + off));
}

bool Device::reset() {
  if (fd_ < 0 || !can_reset_) return false;
  return ioctl(fd_, VFIO_DEVICE_RESET) == 0;
}

void Device::set_bus_master(bool on) {
  if (fd_ < 0) return;
  uint16_t cmd = cfg_read16(pci::kCommand);
  if (cmd == 0xffff) return;
  // Memory space on (the BARs), INTx off: linerate polls, or uses MSI-X.
  cmd |= pci::kCommandMemory | pci::kCommandIntxDisable;
  if (on) cmd |= pci::kCommandBusMaster;
  else cmd &= uint16_t(~pci::kCommandBusMaster);
  cfg_write16(pci::kCommand, cmd);
}

void Device::dma_map(const void* va, size_t len) {
  len = (len + 4095) & ~size_t(4095);
  if (no_iommu_) {
    // Physical addresses from /proc/self/pagemap (Documentation/admin-guide/mm/pagemap.rst):
    // 64-bit entry per 4 KiB page, bits 0-54 PFN, bit 63 present.
    PhysRange r{reinterpret_cast<uintptr_t>(va), len, 4096, {}};
    const int pm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pm < 0) fail("VFIO_SETUP", scope_ + ": cannot open /proc/self/pagemap: " + errno_text(errno));
    const size_t pages = len / 4096;
    std::vector<uint64_t> ent(pages);
    const ssize_t want = ssize_t(pages * 8);
    const ssize_t got = pread(pm, ent.data(), size_t(want), off_t((r.base / 4096) * 8));
    ::close(pm);
    if (got != want) fail("VFIO_SETUP", scope_ + ": reading /proc/self/pagemap failed");
    for (size_t i = 0; i < pages; i++) {
      const uint64_t pfn = ent[i] & ((uint64_t(1) << 55) - 1);
      if (!(ent[i] >> 63) || pfn == 0)
        fail("VFIO_SETUP", scope_ + ": no physical address for DMA memory (page not present, or no CAP_SYS_ADMIN to read PFNs); run as root");
      r.pa.push_back(pfn * 4096);
      // Buffers may cross page boundaries, so the whole range must be contiguous.
      if (i && r.pa[i] != r.pa[i - 1] + 4096)
        fail("VFIO_SETUP", scope_ + ": no-IOMMU mode needs physically contiguous DMA memory and this range is not (at +" +
                               std::to_string(i * 4096) + "); use 1 GiB hugepages (mempool.hugepageSize: '1G'), a smaller pool, or the IOMMU");
    }
    phys_.push_back(std::move(r));
  }
  container_->map(va, len, scope_);
  mapped_.push_back(va);
}

void Device::dma_unmap(const void* va) {
  for (size_t i = 0; i < mapped_.size(); i++) {
    if (mapped_[i] != va) continue;
    container_->unmap(va);
    mapped_.erase(mapped_.begin() + long(i));
    for (size_t j = 0; j < phys_.size(); j++)
      if (phys_[j].base == reinterpret_cast<uintptr_t>(va)) phys_.erase(phys_.begin() + long(j));
    return;
  }
}

uint64_t Device::phys(const void* p) const {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (auto& r : phys_)
    if (a >= r.base && a < r.base + r.len) return r.pa[(a - r.base) / r.page] + (a - r.base) % r.page;
  return 0;
}

uint8_t* Device::alloc_dma(size_t bytes, const char* what) {
  RegionOptions ro;
  ro.bytes = (bytes + 4095) & ~size_t(4095);
  ro.hugepages = no_iommu_ ? HugepagePolicy::Require : HugepagePolicy::Auto;
  Region r;
  try {
    r = Region::allocate(ro);
  } catch (const Error& e) {
    fail(e.code().c_str(), scope_ + ": memory for " + what + ": " + e.what());
  }
  if (no_iommu_ && r.kind() == PageKind::Small)
    fail("HUGEPAGES_UNAVAILABLE", scope_ + ": no-IOMMU mode needs " + what + " on hugepages; reserve some: echo 64 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
  memset(r.base(), 0, ro.bytes);
  uint8_t* p = r.base();
  dma_map(p, ro.bytes);
  dma_regions_.push_back(std::move(r));
  return p;
}

const std::vector<int>& Device::enable_msix(uint32_t n) {
  disable_msix();
  if (n == 0) return irq_fds_;
  if (n > msix_count_)
    fail("DEVICE_UNSUPPORTED", scope_ + ": " + std::to_string(n) + " MSI-X vectors wanted, the device has " + std::to_string(msix_count_));
  std::vector<uint8_t> buf(sizeof(vfio_irq_set) + n * sizeof(int32_t));
  auto* set = reinterpret_cast<vfio_irq_set*>(buf.data());
  set->argsz = uint32_t(buf.size());
  set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
  set->index = VFIO_PCI_MSIX_IRQ_INDEX;
  set->start = 0;
  set->count = n;
  for (uint32_t i = 0; i < n; i++) {
    const int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) {
      disable_msix();
      fail("VFIO_SETUP", scope_ + ": eventfd: " + errno_text(errno));
    }
    irq_fds_.push_back(efd);
    int32_t v = efd;
    memcpy(set->data + i * sizeof(int32_t), &v, sizeof v);
  }
  if (ioctl(fd_, VFIO_DEVICE_SET_IRQS, set) != 0) {
    const int e = errno;
    for (int f : irq_fds_) ::close(f);
    irq_fds_.clear();
    fail("VFIO_SETUP", scope_ + ": VFIO_DEVICE_SET_IRQS (MSI-X, " + std::to_string(n) + " vectors) failed: " + errno_text(e));
  }
  return irq_fds_;
}

void Device::disable_msix() {
  if (fd_ >= 0 && !irq_fds_.empty()) {
    vfio_irq_set set{};
    set.argsz = sizeof set;
    set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
    set.index = VFIO_PCI_MSIX_IRQ_INDEX;
    set.start = 0;
    set.count = 0;
    ioctl(fd_, VFIO_DEVICE_SET_IRQS, &set);
  }
  for (int f : irq_fds_) ::close(f);
  irq_fds_.clear();
}

}  // namespace lr::vfio
