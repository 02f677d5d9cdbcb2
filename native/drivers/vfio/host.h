// What sysfs and /proc say about a PCI device before vfio opens it: whether it
// exists, which driver holds it, its IOMMU group and the group's other members,
// who holds a vfio group file. check_device() (vfio.h) is the preflight that
// turns these facts into errors with fixes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lr::vfio {

// The first line of a file, empty when it cannot be read.
std::string read_text(const std::string& path);
bool exists(const std::string& path);
// basename(readlink(path)), empty when it is not a link.
std::string link_name(const std::string& path);
// Entries of a directory (no dot files), sorted; empty when it cannot be read.
std::vector<std::string> list_dir(const std::string& path);
// /sys/bus/pci/devices/<pci>
std::string sysdev(const std::string& pci);
// Interface names of a PCI device (net/<if>, or virtioN/net/<if>).
std::string interfaces_of(const std::string& pci);
// "0000:00:03.0" from "00:03.0" or "0000:00:03.0" (lower case); INVALID_OPTION otherwise.
std::string normalize(const std::string& in, const std::string& scope);
// Processes other than this one that hold a file open, as "pid (comm)".
std::string holders_of(const std::string& file);
// "0x..." for messages.
std::string hex(uint64_t v);

}  // namespace lr::vfio
