#include "drivers/netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace lr {

std::string netns_cmd_prefix(const std::string& netns) { return netns.empty() ? "" : "ip netns exec " + netns + " "; }

[[noreturn]] void fail_syscall(const char* code, const std::string& what, int err, const std::string& caps) {
  if (err == EPERM || err == EACCES) {
    const bool sys_admin = caps.find("SYS_ADMIN") != std::string::npos;
    const bool bpf = caps.find("CAP_BPF") != std::string::npos;
    fail("MISSING_CAPABILITY", what + ": " + errno_text(err) + "; this needs " + caps + ": run as root, or grant them with: sudo setcap " +
                                   (sys_admin ? "cap_sys_admin," : "") + (bpf ? "cap_bpf," : "") + "cap_net_raw,cap_net_admin+ep" +
                                   " $(command -v node)");
  }
  fail(code, what + ": " + errno_text(err));
}

namespace {
int open_netns(const std::string& name, const std::string& scope) {
  if (name.find('/') != std::string::npos || name == "." || name == "..")
    fail("INVALID_OPTION", scope + ": option 'netns' must be a namespace name as `ip netns list` shows it, got '" + name + "'");
  const std::string path = "/var/run/netns/" + name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT)
      fail("NETNS_NOT_FOUND", scope + ": network namespace '" + name + "' does not exist (" + path +
                                  " is missing); list them with: ip netns list, create one with: ip netns add " + name);
    fail_syscall("NETNS_NOT_FOUND", scope + ": cannot open " + path, err, "CAP_SYS_ADMIN");
  }
  return fd;
}
}  // namespace

Netns::Netns(const std::string& name, const std::string& scope) : name_(name) {
  if (!name.empty()) fd_ = open_netns(name, scope);
}
Netns::~Netns() {
  if (fd_ >= 0) ::close(fd_);
}
Netns& Netns::operator=(Netns&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    name_ = std::move(o.name_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

NetnsScope::NetnsScope(const std::string& name, const std::string& scope) {
  if (name.empty()) return;
  const int target = open_netns(name, scope);
  try {
    enter(target, name, scope);
  } catch (...) {
    ::close(target);
    throw;
  }
  ::close(target);
}

NetnsScope::NetnsScope(const Netns& ns, const std::string& scope) {
  if (ns.fd() >= 0) enter(ns.fd(), ns.name(), scope);
}

void NetnsScope::enter(int target, const std::string& name, const std::string& scope) {
  orig_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (orig_ < 0) orig_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (orig_ < 0) fail_syscall("NETNS_NOT_FOUND", scope + ": cannot open this thread's network namespace", errno, "CAP_SYS_ADMIN");
  if (::setns(target, CLONE_NEWNET) != 0) {
    const int err = errno;
    ::close(orig_);
    orig_ = -1;
    if (err == EINVAL)
      fail("NETNS_NOT_FOUND", scope + ": /var/run/netns/" + name + " is not a network namespace; check with: ip netns list");
    fail_syscall("NETNS_NOT_FOUND", scope + ": cannot enter network namespace '" + name + "' (setns)", err,
                 "CAP_SYS_ADMIN (to enter a namespace)");
  }
}

NetnsScope::~NetnsScope() {
  if (orig_ < 0) return;
  if (::setns(orig_, CLONE_NEWNET) != 0) {
    // The thread would go on in the wrong namespace: every later socket would be
    // created there. Nothing sane can continue.
    std::fprintf(stderr, "linerate: cannot return to the original network namespace: %s\n", std::strerror(errno));
    std::abort();
  }
  ::close(orig_);
}

namespace {
bool read_if(int fd, const char* name, NetIf& out) {
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (::ioctl(fd, SIOCGIFINDEX, &ifr) != 0) return false;
  out.index = ifr.ifr_ifindex;
  out.name = name;
  if (::ioctl(fd, SIOCGIFMTU, &ifr) == 0) out.mtu = uint32_t(ifr.ifr_mtu);
  if (::ioctl(fd, SIOCGIFHWADDR, &ifr) == 0) std::memcpy(out.mac.data(), ifr.ifr_hwaddr.sa_data, 6);
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) return false;
  out.up = (ifr.ifr_flags & IFF_UP) != 0;
  out.running = (ifr.ifr_flags & IFF_RUNNING) != 0;
  return true;
}
}  // namespace

namespace {
// Whether the namespace open at `ns_fd` has an interface called `ifname`. The
// calling thread enters it for the socket() only (a socket's ioctls act in the
// namespace it was created in) and comes back, as NetnsScope does. Used on the
// error path only; any failure (no CAP_SYS_ADMIN, not a namespace) is "no".
bool has_interface_in(int ns_fd, const std::string& ifname) {
  const int orig = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (orig < 0) return false;
  if (::setns(ns_fd, CLONE_NEWNET) != 0) {
    ::close(orig);
    return false;
  }
  const int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (::setns(orig, CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "linerate: cannot return to the original network namespace: %s\n", std::strerror(errno));
    std::abort();  // the thread would go on in the wrong namespace (see ~NetnsScope)
  }
  ::close(orig);
  if (s < 0) return false;
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  const bool found = ::ioctl(s, SIOCGIFINDEX, &ifr) == 0;
  ::close(s);
  return found;
}

// Where else `ifname` lives, for INTERFACE_NOT_FOUND: the named namespaces of
// `ip netns` (/var/run/netns/<name>, at most 256 looked at) other than `netns`,
// and "" for this process's own namespace when `netns` named another.
std::vector<std::string> namespaces_with(const std::string& ifname, const std::string& netns) {
  std::vector<std::string> found;
  if (!netns.empty()) {
    const int self = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self >= 0) {
      if (has_interface_in(self, ifname)) found.push_back("");
      ::close(self);
    }
  }
  DIR* d = ::opendir("/var/run/netns");
  if (!d) return found;
  int looked = 0;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == ".." || name == netns) continue;
    if (++looked > 256) break;
    const int fd = ::open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    if (has_interface_in(fd, ifname)) found.push_back(name);
    ::close(fd);
  }
  ::closedir(d);
  return found;
}
}  // namespace

NetIf netif_by_name(int fd, const std::string& ifname, const std::string& netns, const std::string& scope) {
  const std::string where = netns.empty() ? " in this process's network namespace" : " in network namespace '" + netns + "'";
  if (ifname.empty() || ifname.size() >= IFNAMSIZ)
    fail("INVALID_OPTION", scope + ": option 'interface' must be an interface name of 1 to " + std::to_string(IFNAMSIZ - 1) +
                               " characters, got '" + ifname + "'");
  NetIf n;
  if (!read_if(fd, ifname.c_str(), n)) {
    // An interface moved into a namespace (every veth test bed, every container)
    // is invisible from outside it: say where it is, and which option reaches it.
    std::string hint;
    const std::vector<std::string> elsewhere = namespaces_with(ifname, netns);
    if (!elsewhere.empty()) {
      std::string names;
      for (const auto& ns : elsewhere) names += (names.empty() ? "" : ", ") + (ns.empty() ? std::string("this process's own") : "'" + ns + "'");
      if (elsewhere.size() > 1)
        hint = "; an interface of that name exists in network namespaces " + names +
               ": give the port the option netns with the one you mean (or leave it out for this process's own)";
      else if (elsewhere[0].empty())
        hint = "; it exists in this process's own network namespace: leave out the 'netns' option";
      else
        hint = "; it exists in network namespace '" + elsewhere[0] + "': give the port the option netns: '" + elsewhere[0] + "'";
    } else {
      hint = "; list the interfaces with: " + netns_cmd_prefix(netns) +
             "ip link show, and check the name (an interface in another network namespace needs the port's 'netns' "
             "option; list namespaces with: ip netns list)";
    }
    fail("INTERFACE_NOT_FOUND", scope + ": no network interface '" + ifname + "'" + where + hint);
  }
  return n;
}

bool netif_by_index(int fd, int index, NetIf& out) {
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  ifr.ifr_ifindex = index;
  if (::ioctl(fd, SIOCGIFNAME, &ifr) != 0) return false;
  char name[IFNAMSIZ + 1] = {};
  std::memcpy(name, ifr.ifr_name, IFNAMSIZ);
  return read_if(fd, name, out) && out.index == index;
}

void require_up(const NetIf& nif, const std::string& netns, const std::string& scope) {
  if (!nif.up)
    fail("INTERFACE_DOWN", scope + ": interface '" + nif.name + "'" + (netns.empty() ? "" : " in network namespace '" + netns + "'") +
                               " is down; bring it up with: " + netns_cmd_prefix(netns) + "ip link set " + nif.name + " up");
}

}  // namespace lr
