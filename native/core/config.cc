#include "core/config.h"

#include <algorithm>
#include <cmath>

namespace lr {

bool Config::get_bool(const std::string& k, bool def) const {
  auto it = values_.find(k);
  if (it == values_.end()) return def;
  if (auto* b = std::get_if<bool>(&it->second)) return *b;
  fail("INVALID_OPTION", where(k) + " must be a boolean");
}

uint64_t Config::get_uint(const std::string& k, uint64_t def, uint64_t lo, uint64_t hi) const {
  auto it = values_.find(k);
  if (it == values_.end()) return def;
  auto* d = std::get_if<double>(&it->second);
  if (!d || std::floor(*d) != *d || *d < double(lo) || *d > double(hi))
    fail("INVALID_OPTION", where(k) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return uint64_t(*d);
}

double Config::get_number(const std::string& k, double def) const {
  auto it = values_.find(k);
  if (it == values_.end()) return def;
  if (auto* d = std::get_if<double>(&it->second)) return *d;
  fail("INVALID_OPTION", where(k) + " must be a number");
}

std::string Config::get_string(const std::string& k, const std::string& def) const {
  auto it = values_.find(k);
  if (it == values_.end()) return def;
  if (auto* s = std::get_if<std::string>(&it->second)) return *s;
  fail("INVALID_OPTION", where(k) + " must be a string");
}

std::string Config::get_enum(const std::string& k, const std::string& def, const std::vector<std::string>& allowed) const {
  std::string v = get_string(k, def);
  if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return v;
  std::string list;
  for (auto& a : allowed) list += (list.empty() ? "'" : ", '") + a + "'";
  fail("INVALID_OPTION", where(k) + " must be one of " + list + ", got '" + v + "'");
}

Config::Bytes Config::get_bytes(const std::string& k, const Bytes& def) const {
  auto it = values_.find(k);
  if (it == values_.end()) return def;
  if (auto* b = std::get_if<Bytes>(&it->second)) return *b;
  fail("INVALID_OPTION", where(k) + " must be a Uint8Array");
}

void Config::allow_only(const std::vector<std::string>& keys) const {
  for (auto& [k, v] : values_) {
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
      std::string list;
      for (auto& a : keys) list += (list.empty() ? "" : ", ") + a;
      fail("UNKNOWN_OPTION", where(k) + " is not known (known: " + list + ")");
    }
  }
}

}  // namespace lr
