#include "drivers/vfio/host.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "drivers/vfio/vfio.h"

namespace lr::vfio {

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

// The preflight of Device::open (vfio.h): every refusal with its fix.
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

}  // namespace lr::vfio
