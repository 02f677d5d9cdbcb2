// A minimal test harness for the C++ tests (ctest runs one executable per file).
// CHECK records a failure and goes on; REQUIRE stops the current test.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace check {

struct Case {
  const char* name;
  std::function<void()> fn;
};
inline std::vector<Case>& cases() {
  static std::vector<Case> v;
  return v;
}
inline int& failures() {
  static int f = 0;
  return f;
}
struct Register {
  Register(const char* n, std::function<void()> f) { cases().push_back({n, std::move(f)}); }
};
struct Abort {};

inline int run_all() {
  // Line-buffered: when a runner kills a case that hangs (a timeout, qemu-user),
  // the lines printed so far still reach its pipe and name the case that hung.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int failed_cases = 0;
  for (auto& c : cases()) {
    const int before = failures();
    try {
      c.fn();
    } catch (const Abort&) {
    } catch (const std::exception& e) {
      std::fprintf(stderr, "  unexpected exception: %s\n", e.what());
      failures()++;
    }
    const bool ok = failures() == before;
    failed_cases += ok ? 0 : 1;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", c.name);
  }
  std::printf("%zu cases, %d failed\n", cases().size(), failed_cases);
  return failed_cases ? 1 : 0;
}

}  // namespace check

#define CHECK_CAT2(a, b) a##b
#define CHECK_CAT(a, b) CHECK_CAT2(a, b)
#define TEST_CASE(name)                                                           \
  static void CHECK_CAT(test_fn_, __LINE__)();                                    \
  static check::Register CHECK_CAT(test_reg_, __LINE__)(name, CHECK_CAT(test_fn_, __LINE__)); \
  static void CHECK_CAT(test_fn_, __LINE__)()
#define CHECK(cond)                                                               \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
      check::failures()++;                                                        \
    }                                                                             \
  } while (0)
#define REQUIRE(cond)                                                             \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "  %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond); \
      check::failures()++;                                                        \
      throw check::Abort{};                                                       \
    }                                                                             \
  } while (0)
#define CHECK_THROWS_CODE(expr, want)                                             \
  do {                                                                            \
    std::string got_ = "(no exception)";                                          \
    try {                                                                         \
      expr;                                                                       \
    } catch (const lr::Error& e) {                                                \
      got_ = e.code();                                                            \
    }                                                                             \
    if (got_ != (want)) {                                                         \
      std::fprintf(stderr, "  %s:%d: %s threw %s, want %s\n", __FILE__, __LINE__, #expr, got_.c_str(), want); \
      check::failures()++;                                                        \
    }                                                                             \
  } while (0)
#define TEST_MAIN() \
  int main() { return check::run_all(); }
