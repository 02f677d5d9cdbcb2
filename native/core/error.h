// Typed errors for the native side. Every failure that depends on the host or on
// user input carries a stable code (the same string the TypeScript LinerateError
// exposes) and a message that says what to run to fix it.
#pragma once
#include <stdexcept>
#include <string>

namespace lr {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

[[noreturn]] inline void fail(const char* code, const std::string& message) {
  throw Error(code, message);
}

// errno text, for messages.
std::string errno_text(int err);

}  // namespace lr
