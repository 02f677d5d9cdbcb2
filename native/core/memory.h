// Memory regions: one contiguous virtual range, backed by hugepages when the host
// has them, otherwise by populated, locked 4 KiB pages. A mempool owns exactly one
// region so that JavaScript can see a whole pool as one ArrayBuffer, and a DMA
// mapping (VFIO: IOVA = VA) covers it with a single map call.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace lr {

enum class HugepagePolicy { Auto, Require, Off };
enum class PageKind { Huge1G, Huge2M, Small };

const char* page_kind_name(PageKind k);

struct RegionOptions {
  size_t bytes = 0;
  HugepagePolicy hugepages = HugepagePolicy::Auto;
  // 2 MiB by default; 1 GiB when the user asks for it and the host has them.
  size_t hugepage_size = size_t(2) << 20;
};

class Region {
 public:
  Region() = default;
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  Region(Region&& o) noexcept { *this = std::move(o); }
  Region& operator=(Region&& o) noexcept;
  ~Region();

  // Allocates per the options; throws lr::Error (HUGEPAGES_UNAVAILABLE,
  // MEMORY_UNAVAILABLE) with the command to fix it.
  static Region allocate(const RegionOptions& opts);

  uint8_t* base() const { return base_; }
  size_t size() const { return size_; }
  PageKind kind() const { return kind_; }
  bool locked() const { return locked_; }
  // How the region was obtained ("MAP_HUGETLB 2MiB", "hugetlbfs /dev/hugepages", "4KiB anonymous").
  const std::string& source() const { return source_; }
  // Why hugepages were not used, empty when they were.
  const std::string& warning() const { return warning_; }

 private:
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;
  PageKind kind_ = PageKind::Small;
  bool locked_ = false;
  std::string source_;
  std::string warning_;
};

// Free hugepages of the given size on this host (from sysfs), 0 when none.
uint64_t free_hugepages(size_t page_size);
// Mount point of a hugetlbfs with that page size, empty when none is mounted.
std::string hugetlbfs_mount(size_t page_size);

}  // namespace lr
