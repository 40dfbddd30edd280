#pragma once
// Static file serving helpers: map a URL path to a file beneath a root
// without escaping it, open it safely, and decide the response (MIME type,
// ETag, Last-Modified, 304 / 206 / 416). StaticRoot is built once per config
// snapshot (it holds the root directory fd) and is safe to share read-only
// between workers; the other functions are pure. open_file() does blocking
// file-system calls (openat2 + fstat): the caller decides where to run it.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "proxy/http/message.hpp"

namespace portico::http {

// Result of mapping a URL path: status 0 and the relative path ("a/b.html",
// never empty, no leading '/'), or 400 (bad percent-encoding) / 404 (refused).
struct StaticPath {
  int status = 0;
  std::string_view relative;
};

// Percent-decodes the path, refuses %2F, NUL and ".." segments (also encoded),
// drops "." and empty segments, and appends `index` for a directory path
// (trailing '/'). Writes into `out`; 414 when out is too small.
StaticPath resolve_static_path(std::string_view url_path, std::string_view index,
                               std::span<char> out);

// An open regular file. Move-only; closes its fd.
class StaticFile {
 public:
  StaticFile() = default;
  StaticFile(int fd, uint64_t size, int64_t mtime_sec, int64_t mtime_nsec)
      : fd_(fd), size_(size), mtime_sec_(mtime_sec), mtime_nsec_(mtime_nsec) {}
  StaticFile(StaticFile&& o) noexcept { *this = std::move(o); }
  StaticFile& operator=(StaticFile&& o) noexcept;
  StaticFile(const StaticFile&) = delete;
  StaticFile& operator=(const StaticFile&) = delete;
  ~StaticFile();

  int fd() const { return fd_; }
  int release();  // gives up ownership of the fd
  uint64_t size() const { return size_; }
  int64_t mtime_sec() const { return mtime_sec_; }
  int64_t mtime_nsec() const { return mtime_nsec_; }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
  int64_t mtime_sec_ = 0;
  int64_t mtime_nsec_ = 0;
};

struct StaticOpen {
  int status = 0;  // 0 ok; 404 missing / escaping / not a regular file; 503 out of fds
  StaticFile file;
  // The path that was opened (relative, may have gained "/<index>"), for MIME.
  std::string_view relative;
};

// The root of one static route: an O_PATH directory fd plus its real path.
class StaticRoot {
 public:
  enum class Method : uint8_t { kAuto, kRealpath };  // kRealpath: force the fallback (tests)

  static std::optional<StaticRoot> open(const std::string& root, std::string* error);
  StaticRoot(StaticRoot&& o) noexcept;
  StaticRoot& operator=(StaticRoot&& o) noexcept;
  StaticRoot(const StaticRoot&) = delete;
  StaticRoot& operator=(const StaticRoot&) = delete;
  ~StaticRoot();

  // Opens `relative` (from resolve_static_path) beneath the root with
  // openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS); when openat2 is not
  // available, realpath() + prefix check. A directory is retried with
  // "/<index>". Any escape (symlink, "..") is a 404. `scratch` holds the
  // possibly extended relative path returned in StaticOpen::relative.
  StaticOpen open_file(std::string_view relative, std::string_view index, std::span<char> scratch,
                       Method method = Method::kAuto) const;

 private:
  StaticRoot(int fd, std::string real) : fd_(fd), real_(std::move(real)) {}
  int open_once(const char* rel, Method method, int* err) const;
  int fd_ = -1;
  std::string real_;  // realpath of the root
};

// MIME type from the file extension (case-insensitive); "application/octet-stream" if unknown.
std::string_view mime_type(std::string_view path);

// Validators: ETag "\"<size hex>-<mtime ns hex>\"", Last-Modified IMF-fixdate.
std::string_view format_etag(uint64_t size, int64_t mtime_sec, int64_t mtime_nsec,
                             std::span<char, 48> out);
std::string_view format_http_date(time_t t, std::span<char, 32> out);
// IMF-fixdate, RFC 850 and asctime formats (RFC 9110 5.6.7); nullopt if invalid.
std::optional<time_t> parse_http_date(std::string_view s);

// A single byte range decision for a resource of `size` bytes.
struct ByteRange {
  enum class Kind : uint8_t { kFull, kPartial, kUnsatisfiable } kind = Kind::kFull;
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
};
// "bytes=a-b", "bytes=a-", "bytes=-n" -> kPartial or kUnsatisfiable; several
// ranges or anything malformed -> kFull (the header is ignored).
ByteRange parse_range(std::string_view header, uint64_t size);

// What to answer for a GET/HEAD of a static file.
// Not copyable: its views point into its own buffers.
struct StaticDecision {
  StaticDecision() = default;
  StaticDecision(const StaticDecision&) = delete;
  StaticDecision& operator=(const StaticDecision&) = delete;

  int status = 200;     // 200, 206, 304 or 416
  uint64_t offset = 0;  // body bytes to send: [offset, offset + length)
  uint64_t length = 0;  // 0 for 304/416 (for HEAD the caller sends no body anyway)
  std::string_view etag;
  std::string_view last_modified;
  std::string_view content_range;  // 206: "bytes a-b/size", 416: "bytes */size"

  char etag_buf[48];
  char date_buf[32];
  char range_buf[72];
};

// Evaluates If-None-Match, If-Modified-Since (-> 304), If-Range and Range
// (GET only; -> 206 / 416 / 200). The views in `d` point into d's buffers.
void evaluate_static(std::string_view method, std::span<const HeaderField> headers,
                     uint64_t size, int64_t mtime_sec, int64_t mtime_nsec, StaticDecision* d);

}  // namespace portico::http
