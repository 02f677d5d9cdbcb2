// A small typed key/value map: how option objects cross from the binding to the
// core and drivers without either knowing about JavaScript. TypeScript validates
// options first (src/options.ts); the getters here re-check types and ranges so
// the native side never trusts its caller.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/error.h"

namespace lr {

class Config {
 public:
  using Bytes = std::vector<uint8_t>;
  using Value = std::variant<bool, double, std::string, Bytes>;

  void set(const std::string& k, Value v) { values_[k] = std::move(v); }
  bool has(const std::string& k) const { return values_.count(k) != 0; }
  const std::map<std::string, Value>& values() const { return values_; }

  bool get_bool(const std::string& k, bool def) const;
  // Integer in [lo, hi]; INVALID_OPTION names the key (prefixed with scope) otherwise.
  uint64_t get_uint(const std::string& k, uint64_t def, uint64_t lo, uint64_t hi) const;
  double get_number(const std::string& k, double def) const;
  std::string get_string(const std::string& k, const std::string& def) const;
  // One of the given words.
  std::string get_enum(const std::string& k, const std::string& def, const std::vector<std::string>& allowed) const;
  Bytes get_bytes(const std::string& k, const Bytes& def) const;
  // Fails with UNKNOWN_OPTION when a key is not in the list.
  void allow_only(const std::vector<std::string>& keys) const;

  std::string scope;  // e.g. "port 'a' (null)": prefixes error messages

 private:
  std::string where(const std::string& k) const { return (scope.empty() ? "" : scope + ": ") + "option '" + k + "'"; }
  std::map<std::string, Value> values_;
};

}  // namespace lr
