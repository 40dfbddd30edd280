#include "proxy/http/static_path.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace portico::http {

// ---- path mapping ----

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

StaticPath resolve_static_path(std::string_view url_path, std::string_view index,
                               std::span<char> out) {
  if (url_path.empty() || url_path.front() != '/') return {404, {}};
  size_t len = 0;
  bool directory = true;  // the last segment was empty or "."
  size_t i = 1;
  while (i <= url_path.size()) {
    size_t end = url_path.find('/', i);
    if (end == std::string_view::npos) end = url_path.size();
    std::string_view raw = url_path.substr(i, end - i);
    i = end + 1;
    // Decode the segment straight into out (after a separator if needed).
    size_t seg_start = len + (len > 0 ? 1 : 0);
    size_t seg_len = 0;
    for (size_t k = 0; k < raw.size(); ++k) {
      char c = raw[k];
      if (c == '%') {
        if (k + 2 >= raw.size()) return {400, {}};  // truncated escape
        int hi = hex_value(raw[k + 1]), lo = hex_value(raw[k + 2]);
        if (hi < 0 || lo < 0) return {400, {}};
        c = static_cast<char>(hi * 16 + lo);
        k += 2;
        if (c == '/' || c == '\0') return {404, {}};  // encoded separator / NUL
      } else if (c == '\0') {
        return {404, {}};
      }
      if (seg_start + seg_len >= out.size()) return {414, {}};
      out[seg_start + seg_len++] = c;
    }
    std::string_view seg(out.data() + seg_start, seg_len);
    if (seg == "..") return {404, {}};
    if (seg.empty() || seg == ".") {
      directory = true;
      continue;
    }
    directory = false;
    if (len > 0) out[len] = '/';
    len = seg_start + seg_len;
  }
  if (directory) {
    if (index.empty() || index.find('/') != std::string_view::npos || index == "..")
      return {404, {}};
    size_t need = len + (len > 0 ? 1 : 0) + index.size();
    if (need > out.size()) return {414, {}};
    if (len > 0) out[len++] = '/';
    std::memcpy(out.data() + len, index.data(), index.size());
    len += index.size();
  }
  if (len == 0) return {404, {}};
  return {0, std::string_view(out.data(), len)};
}

// ---- StaticFile ----

StaticFile& StaticFile::operator=(StaticFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
    size_ = o.size_;
    mtime_sec_ = o.mtime_sec_;
    mtime_nsec_ = o.mtime_nsec_;
  }
  return *this;
}

StaticFile::~StaticFile() {
  if (fd_ >= 0) ::close(fd_);
}

int StaticFile::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

// ---- StaticRoot ----

std::optional<StaticRoot> StaticRoot::open(const std::string& root, std::string* error) {
  char real[PATH_MAX];
  if (::realpath(root.c_str(), real) == nullptr) {
    if (error) *error = "static root " + root + ": " + std::strerror(errno);
    return std::nullopt;
  }
  int fd = ::open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (error) *error = "static root " + root + ": " + std::strerror(errno);
    return std::nullopt;
  }
  return StaticRoot(fd, real);
}

StaticRoot::StaticRoot(StaticRoot&& o) noexcept : fd_(o.fd_), real_(std::move(o.real_)) {
  o.fd_ = -1;
}

StaticRoot& StaticRoot::operator=(StaticRoot&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
    real_ = std::move(o.real_);
  }
  return *this;
}

StaticRoot::~StaticRoot() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {
constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
}

int StaticRoot::open_once(const char* rel, Method method, int* err) const {
  if (method == Method::kAuto) {
    open_how how{};
    how.flags = kOpenFlags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = ::syscall(SYS_openat2, fd_, rel, &how, sizeof(how));
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != ENOSYS && errno != EPERM) {  // EPERM: a seccomp filter refusing openat2
      *err = errno;
      return -1;
    }
  }
  // Fallback: resolve every symlink, then require the result to be the root
  // or beneath it. (Racy against a concurrent rename inside the root; the
  // openat2 path is not.)
  std::string full = real_ + "/" + rel;
  char real[PATH_MAX];
  if (::realpath(full.c_str(), real) == nullptr) {
    *err = errno;
    return -1;
  }
  std::string_view r(real);
  if (!(r == real_ || (r.size() > real_.size() && r.substr(0, real_.size()) == real_ &&
                       (real_ == "/" || r[real_.size()] == '/')))) {
    *err = EXDEV;
    return -1;
  }
  int fd = ::open(real, kOpenFlags | O_NOFOLLOW);
  if (fd < 0) *err = errno;
  return fd;
}

StaticOpen StaticRoot::open_file(std::string_view relative, std::string_view index,
                                 std::span<char> scratch, Method method) const {
  StaticOpen result;
  if (relative.empty() || relative.size() + 1 + index.size() + 1 > scratch.size()) {
    result.status = 404;
    return result;
  }
  std::memmove(scratch.data(), relative.data(), relative.size());
  size_t len = relative.size();
  scratch[len] = '\0';
  for (int attempt = 0; attempt < 2; ++attempt) {
    int err = 0;
    int fd = open_once(scratch.data(), method, &err);
    if (fd < 0) {
      result.status = (err == EMFILE || err == ENFILE || err == ENOMEM) ? 503 : 404;
      return result;
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      result.status = 404;
      return result;
    }
    if (S_ISREG(st.st_mode)) {
      result.file = StaticFile(fd, static_cast<uint64_t>(st.st_size), st.st_mtim.tv_sec,
                               st.st_mtim.tv_nsec);
      result.relative = std::string_view(scratch.data(), len);
      return result;
    }
    ::close(fd);
    if (!S_ISDIR(st.st_mode) || attempt == 1 || index.empty() ||
        index.find('/') != std::string_view::npos || index == "..")
      break;
    scratch[len++] = '/';  // a directory without the trailing slash: try its index
    std::memcpy(scratch.data() + len, index.data(), index.size());
    len += index.size();
    scratch[len] = '\0';
  }
  result.status = 404;
  return result;
}

// ---- MIME ----

std::string_view mime_type(std::string_view path) {
  size_t slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "application/octet-stream";
  std::string_view ext = name.substr(dot + 1);
  struct Entry {
    std::string_view ext, type;
  };
  static constexpr Entry kTable[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"md", "text/markdown; charset=utf-8"},
      {"csv", "text/csv; charset=utf-8"},
      {"xml", "application/xml"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"avif", "image/avif"},
      {"ico", "image/x-icon"},
      {"wasm", "application/wasm"},
      {"pdf", "application/pdf"},
      {"zip", "application/zip"},
      {"gz", "application/gzip"},
      {"tar", "application/x-tar"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
      {"ttf", "font/ttf"},
      {"otf", "font/otf"},
      {"mp4", "video/mp4"},
      {"webm", "video/webm"},
      {"mp3", "audio/mpeg"},
      {"ogg", "audio/ogg"},
      {"wav", "audio/wav"},
  };
  for (const auto& e : kTable)
    if (iequals(ext, e.ext)) return e.type;
  return "application/octet-stream";
}

// ---- validators and dates ----

namespace {

size_t put_hex(char* out, uint64_t v) {
  char tmp[16];
  size_t n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v & 0xf];
    v >>= 4;
  } while (v != 0);
  for (size_t i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  return n;
}

size_t put_dec(char* out, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  return n;
}

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

std::string_view format_etag(uint64_t size, int64_t mtime_sec, int64_t mtime_nsec,
                             std::span<char, 48> out) {
  uint64_t ns = static_cast<uint64_t>(mtime_sec) * 1000000000ull + static_cast<uint64_t>(mtime_nsec);
  size_t n = 0;
  out[n++] = '"';
  n += put_hex(out.data() + n, size);
  out[n++] = '-';
  n += put_hex(out.data() + n, ns);
  out[n++] = '"';
  return std::string_view(out.data(), n);
}

std::string_view format_http_date(time_t t, std::span<char, 32> out) {
  struct tm tm;
  if (::gmtime_r(&t, &tm) == nullptr || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
    t = 0;
    ::gmtime_r(&t, &tm);
  }
  char* p = out.data();
  auto two = [&](int v) {
    *p++ = static_cast<char>('0' + v / 10);
    *p++ = static_cast<char>('0' + v % 10);
  };
  std::memcpy(p, kDays[tm.tm_wday], 3);
  p += 3;
  *p++ = ',';
  *p++ = ' ';
  two(tm.tm_mday);
  *p++ = ' ';
  std::memcpy(p, kMonths[tm.tm_mon], 3);
  p += 3;
  *p++ = ' ';
  int year = tm.tm_year + 1900;
  two(year / 100);
  two(year % 100);
  *p++ = ' ';
  two(tm.tm_hour);
  *p++ = ':';
  two(tm.tm_min);
  *p++ = ':';
  two(tm.tm_sec);
  std::memcpy(p, " GMT", 4);
  p += 4;
  return std::string_view(out.data(), static_cast<size_t>(p - out.data()));
}

namespace {

// Reads exactly n digits.
bool digits(std::string_view& s, size_t n, int* v) {
  if (s.size() < n) return false;
  int r = 0;
  for (size_t i = 0; i < n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    r = r * 10 + (s[i] - '0');
  }
  *v = r;
  s.remove_prefix(n);
  return true;
}

bool lit(std::string_view& s, std::string_view l) {
  if (s.substr(0, l.size()) != l) return false;
  s.remove_prefix(l.size());
  return true;
}

bool month(std::string_view& s, int* m) {
  for (int i = 0; i < 12; ++i)
    if (lit(s, kMonths[i])) {
      *m = i;
      return true;
    }
  return false;
}

bool hms(std::string_view& s, struct tm* tm) {
  return digits(s, 2, &tm->tm_hour) && lit(s, ":") && digits(s, 2, &tm->tm_min) && lit(s, ":") &&
         digits(s, 2, &tm->tm_sec);
}

}  // namespace

std::optional<time_t> parse_http_date(std::string_view s) {
  s = trim_ows(s);
  struct tm tm {};
  size_t comma = s.find(',');
  bool ok = false;
  if (comma == 3) {  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    std::string_view r = s.substr(5);
    ok = s.size() == 29 && s[4] == ' ' && digits(r, 2, &tm.tm_mday) && lit(r, " ") &&
         month(r, &tm.tm_mon) && lit(r, " ") && digits(r, 4, &tm.tm_year) && lit(r, " ") &&
         hms(r, &tm) && lit(r, " GMT") && r.empty();
    tm.tm_year -= 1900;
  } else if (comma != std::string_view::npos) {  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    std::string_view r = s.substr(comma + 1);
    int yy = 0;
    ok = lit(r, " ") && digits(r, 2, &tm.tm_mday) && lit(r, "-") && month(r, &tm.tm_mon) &&
         lit(r, "-") && digits(r, 2, &yy) && lit(r, " ") && hms(r, &tm) && lit(r, " GMT") &&
         r.empty();
    tm.tm_year = yy < 70 ? yy + 100 : yy;  // RFC 9110: 50-year window, approximated
  } else if (s.size() == 24) {  // asctime: "Sun Nov  6 08:49:37 1994"
    std::string_view r = s.substr(4);
    int year = 0;
    std::string_view day = s.substr(8, 2);
    ok = s[3] == ' ' && month(r, &tm.tm_mon) && lit(r, " ");
    if (ok) {
      if (day[0] == ' ') {
        r.remove_prefix(1);
        ok = digits(r, 1, &tm.tm_mday);
      } else {
        ok = digits(r, 2, &tm.tm_mday);
      }
    }
    ok = ok && lit(r, " ") && hms(r, &tm) && lit(r, " ") && digits(r, 4, &year) && r.empty();
    tm.tm_year = year - 1900;
  }
  if (!ok || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return std::nullopt;
  time_t t = ::timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return t;
}

// ---- ranges and conditionals ----

namespace {

// Parses 1+ digits, saturating at UINT64_MAX. Returns false on no digits.
bool parse_u64(std::string_view s, uint64_t* v) {
  if (s.empty()) return false;
  uint64_t r = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    r = r > (UINT64_MAX - d) / 10 ? UINT64_MAX : r * 10 + d;
  }
  *v = r;
  return true;
}

}  // namespace

ByteRange parse_range(std::string_view header, uint64_t size) {
  ByteRange full;
  std::string_view h = trim_ows(header);
  if (!istarts_with(h, "bytes=")) return full;
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return full;  // several ranges: send it all
  h = trim_ows(h);
  size_t dash = h.find('-');
  if (dash == std::string_view::npos) return full;
  std::string_view a = h.substr(0, dash), b = h.substr(dash + 1);
  ByteRange r;
  r.kind = ByteRange::Kind::kPartial;
  if (a.empty()) {  // suffix: the last n bytes
    uint64_t n = 0;
    if (!parse_u64(b, &n)) return full;
    if (n == 0 || size == 0) return {ByteRange::Kind::kUnsatisfiable, 0, 0};
    r.first = n >= size ? 0 : size - n;
    r.last = size - 1;
    return r;
  }
  uint64_t first = 0;
  if (!parse_u64(a, &first)) return full;
  uint64_t last = UINT64_MAX;
  if (!b.empty() && !parse_u64(b, &last)) return full;
  if (last < first) return full;  // invalid range-spec: ignored
  if (first >= size) return {ByteRange::Kind::kUnsatisfiable, 0, 0};
  r.first = first;
  r.last = last >= size ? size - 1 : last;
  return r;
}

namespace {

std::string_view opaque_tag(std::string_view tag, bool* weak) {
  *weak = false;
  if (tag.substr(0, 2) == "W/") {
    *weak = true;
    tag.remove_prefix(2);
  }
  return tag;
}

// If-None-Match uses the weak comparison; If-Range the strong one.
bool etag_list_matches(std::string_view list, std::string_view etag, bool strong) {
  if (trim_ows(list) == "*") return true;
  bool match = false;
  for_each_list_element(list, [&](std::string_view e) {
    bool weak = false;
    std::string_view tag = opaque_tag(e, &weak);
    if (tag == etag && !(strong && weak)) match = true;
    return !match;
  });
  return match;
}

}  // namespace

void evaluate_static(std::string_view method, std::span<const HeaderField> headers,
                     uint64_t size, int64_t mtime_sec, int64_t mtime_nsec, StaticDecision* d) {
  d->etag = format_etag(size, mtime_sec, mtime_nsec, std::span<char, 48>(d->etag_buf));
  d->last_modified = format_http_date(static_cast<time_t>(mtime_sec),
                                      std::span<char, 32>(d->date_buf));
  d->status = 200;
  d->offset = 0;
  d->length = size;
  d->content_range = {};
  bool get_or_head = method == "GET" || method == "HEAD";

  // RFC 9110 13.2.2: If-None-Match, else If-Modified-Since (GET/HEAD only).
  if (auto inm = find_header(headers, "if-none-match")) {
    if (get_or_head && etag_list_matches(*inm, d->etag, false)) {
      d->status = 304;
      d->length = 0;
      return;
    }
  } else if (auto ims = find_header(headers, "if-modified-since"); ims && get_or_head) {
    if (auto t = parse_http_date(*ims); t && mtime_sec <= *t) {
      d->status = 304;
      d->length = 0;
      return;
    }
  }

  if (method != "GET") return;
  auto range = find_header(headers, "range");
  if (!range) return;
  if (auto if_range = find_header(headers, "if-range")) {
    std::string_view ir = trim_ows(*if_range);
    bool fresh = false;
    if (!ir.empty() && (ir.front() == '"' || ir.substr(0, 2) == "W/")) {
      bool weak = false;
      std::string_view tag = opaque_tag(ir, &weak);
      fresh = !weak && tag == d->etag;  // strong comparison
    } else if (auto t = parse_http_date(ir)) {
      fresh = *t == mtime_sec;
    }
    if (!fresh) return;  // changed since: send the whole representation
  }
  ByteRange r = parse_range(*range, size);
  char* p = d->range_buf;
  switch (r.kind) {
    case ByteRange::Kind::kFull:
      return;
    case ByteRange::Kind::kUnsatisfiable:
      d->status = 416;
      d->length = 0;
      std::memcpy(p, "bytes */", 8);
      p += 8;
      p += put_dec(p, size);
      break;
    case ByteRange::Kind::kPartial:
      d->status = 206;
      d->offset = r.first;
      d->length = r.last - r.first + 1;
      std::memcpy(p, "bytes ", 6);
      p += 6;
      p += put_dec(p, r.first);
      *p++ = '-';
      p += put_dec(p, r.last);
      *p++ = '/';
      p += put_dec(p, size);
      break;
  }
  d->content_range = std::string_view(d->range_buf, static_cast<size_t>(p - d->range_buf));
}

}  // namespace portico::http
