#pragma once
// Error values for the data path (no exceptions there): an errno-style code,
// the side it came from, and whether a retry on another endpoint may help.
// Syscall results become an Error in one place: Error::from_errno().

#include <cerrno>
#include <cstring>

namespace portico {

enum class Side : unsigned char { kDownstream, kUpstream, kInternal };

struct Error {
  int code = 0;  // positive errno value
  Side side = Side::kInternal;
  bool retryable = false;
  const char* context = "";  // static string: what was being done

  static Error from_errno(int negative_or_positive_errno, Side side, const char* context) {
    int c = negative_or_positive_errno < 0 ? -negative_or_positive_errno : negative_or_positive_errno;
    bool retry = side == Side::kUpstream &&
                 (c == ECONNREFUSED || c == ETIMEDOUT || c == EHOSTUNREACH || c == ENETUNREACH ||
                  c == ECONNRESET || c == ECANCELED);
    return Error{c, side, retry, context};
  }
  const char* what() const { return std::strerror(code); }
};

}  // namespace portico
