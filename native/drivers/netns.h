// Network namespaces and kernel interfaces, for the drivers that open kernel
// sockets or devices (af_packet, af_xdp, tap).
//
// A socket belongs to the network namespace it was created in, for its whole
// life, whatever namespace the thread that uses it is in later. So a driver
// that is given `netns: '<name>'` enters that namespace (setns(2) with
// CLONE_NEWNET on the calling thread only), creates its sockets and resolves
// its interface, then returns to the original namespace. NetnsScope does that
// with RAII: the thread is back where it was even when opening fails.
//
// Names are those of `ip netns` (iproute2): a bind mount at /var/run/netns/<name>.
#pragma once
#include <cstdint>
#include <string>

#include "drivers/driver.h"

namespace lr {

// A named namespace held open by fd, so that a driver can enter it again later
// (to create more sockets at configure time) even if the name is removed.
class Netns {
 public:
  Netns() = default;  // the current namespace: entering it is a no-op
  // Throws NETNS_NOT_FOUND when /var/run/netns/<name> does not exist or is not a
  // network namespace. Empty name: the current namespace.
  Netns(const std::string& name, const std::string& scope);
  ~Netns();
  Netns(Netns&& o) noexcept : name_(std::move(o.name_)), fd_(o.fd_) { o.fd_ = -1; }
  Netns& operator=(Netns&& o) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  const std::string& name() const { return name_; }
  int fd() const { return fd_; }

 private:
  std::string name_;
  int fd_ = -1;
};

class NetnsScope {
 public:
  // Empty name: stays in the current namespace (a no-op scope).
  // Throws NETNS_NOT_FOUND when /var/run/netns/<name> does not exist,
  // MISSING_CAPABILITY when setns is refused (needs CAP_SYS_ADMIN).
  NetnsScope(const std::string& name, const std::string& scope);
  // Enters a namespace held open (no-op for the default Netns).
  NetnsScope(const Netns& ns, const std::string& scope);
  ~NetnsScope();  // returns to the original namespace; aborts if it cannot (the thread would be lost)
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

 private:
  void enter(int target, const std::string& name, const std::string& scope);
  int orig_ = -1;
};

// Facts about a network interface, read with ioctls on `fd` (any socket created
// in the interface's namespace: the ioctls act in the socket's namespace).
struct NetIf {
  int index = 0;
  std::string name;
  uint32_t mtu = 0;
  MacAddr mac{};
  bool up = false;       // IFF_UP: administratively up
  bool running = false;  // IFF_RUNNING: carrier (for a veth: the peer is up)
};

// Resolves an interface by name. Throws INTERFACE_NOT_FOUND (with the namespace
// and the command to list interfaces) when there is no such interface.
NetIf netif_by_name(int fd, const std::string& ifname, const std::string& netns, const std::string& scope);
// Re-reads an interface by index (the name may have changed). false when it is gone.
bool netif_by_index(int fd, int index, NetIf& out);
// Fails with INTERFACE_DOWN and the fix when the interface is not IFF_UP.
void require_up(const NetIf& nif, const std::string& netns, const std::string& scope);

// "ip netns exec <ns> " or "" : prefix for commands in error messages.
std::string netns_cmd_prefix(const std::string& netns);

// Throws MISSING_CAPABILITY when err is EPERM or EACCES (naming the capabilities
// and how to grant them), otherwise `code` with the errno text.
[[noreturn]] void fail_syscall(const char* code, const std::string& what, int err, const std::string& caps);

}  // namespace lr
