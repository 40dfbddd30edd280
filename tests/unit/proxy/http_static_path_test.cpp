#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "proxy/http/static_path.hpp"

using namespace portico::http;
namespace fs = std::filesystem;

namespace {

std::string resolve(std::string_view path, std::string_view index = "index.html") {
  char buf[256];
  StaticPath r = resolve_static_path(path, index, buf);
  if (r.status != 0) return std::to_string(r.status);
  return std::string(r.relative);
}

// A temp tree: <tmp>/root/{index.html,a.txt,sub/index.html,sub/page.css,
// link_in -> a.txt, link_out -> ../secret.txt, link_abs -> <tmp>/secret.txt,
// dir_out -> ..}, <tmp>/secret.txt. Removed on destruction.
struct TempTree {
  fs::path base;
  TempTree() {
    char tmpl[] = "/tmp/portico_static_XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    base = tmpl;
    fs::create_directories(base / "root" / "sub");
    write(base / "root" / "index.html", "<h1>home</h1>");
    write(base / "root" / "a.txt", "0123456789");
    write(base / "root" / "sub" / "index.html", "sub");
    write(base / "root" / "sub" / "page.css", "body{}");
    write(base / "secret.txt", "secret");
    fs::create_symlink("a.txt", base / "root" / "link_in");
    fs::create_symlink("../secret.txt", base / "root" / "link_out");
    fs::create_symlink(base / "secret.txt", base / "root" / "link_abs");
    fs::create_symlink("..", base / "root" / "dir_out");
    REQUIRE(::mkfifo((base / "root" / "fifo").c_str(), 0600) == 0);
  }
  ~TempTree() {
    std::error_code ec;
    fs::remove_all(base, ec);
  }
  static void write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }
};

std::string open_status(const StaticRoot& root, std::string_view url, StaticRoot::Method m,
                        std::string* body = nullptr) {
  char path_buf[256], scratch[512];
  StaticPath p = resolve_static_path(url, "index.html", path_buf);
  if (p.status != 0) return std::to_string(p.status);
  StaticOpen o = root.open_file(p.relative, "index.html", scratch, m);
  if (o.status != 0) return std::to_string(o.status);
  if (body) {
    body->resize(o.file.size());
    REQUIRE(::pread(o.file.fd(), body->data(), body->size(), 0) == static_cast<ssize_t>(body->size()));
  }
  return std::string(o.relative);
}

}  // namespace

TEST_CASE("URL paths map to relative file paths") {
  CHECK(resolve("/") == "index.html");
  CHECK(resolve("/a.txt") == "a.txt");
  CHECK(resolve("/sub/") == "sub/index.html");
  CHECK(resolve("/sub") == "sub");
  CHECK(resolve("//sub///page.css") == "sub/page.css");
  CHECK(resolve("/./sub/./page.css") == "sub/page.css");
  CHECK(resolve("/sub/.") == "sub/index.html");
  CHECK(resolve("/with%20space.txt") == "with space.txt");
  CHECK(resolve("/%41%62c") == "Abc");
  CHECK(resolve("/...") == "...");
  CHECK(resolve("/x", "") == "x");
  CHECK(resolve("/", "") == "404");
}

TEST_CASE("traversal attempts are refused") {
  CHECK(resolve("/../etc/passwd") == "404");
  CHECK(resolve("/sub/../../etc/passwd") == "404");
  CHECK(resolve("/sub/..") == "404");
  CHECK(resolve("/%2e%2e/etc/passwd") == "404");
  CHECK(resolve("/%2E%2E/etc/passwd") == "404");
  CHECK(resolve("/.%2e/x") == "404");
  CHECK(resolve("/%2e./x") == "404");
  CHECK(resolve("/..%2fetc/passwd") == "404");
  CHECK(resolve("/sub%2f..%2f..%2fx") == "404");
  CHECK(resolve("/a%2Fb") == "404");
  CHECK(resolve("/a%00.txt") == "404");
  CHECK(resolve(std::string("/a\0b", 4)) == "404");
  CHECK(resolve("/%") == "400");
  CHECK(resolve("/%2") == "400");
  CHECK(resolve("/%zz") == "400");
  CHECK(resolve("relative") == "404");
  CHECK(resolve("") == "404");
  // Double encoding decodes once: "%2e%2e" is a literal file name, not "..".
  CHECK(resolve("/%252e%252e/x") == "%2e%2e/x");
  CHECK(resolve("/%252f") == "%2f");
}

TEST_CASE("a path longer than the output buffer is 414") {
  char small[8];
  CHECK(resolve_static_path("/abcdefghij", "index.html", small).status == 414);
  CHECK(resolve_static_path("/abc/", "index.html", small).status == 414);
}

TEST_CASE("files open beneath the root; symlink escapes are 404 (openat2 and fallback)") {
  TempTree t;
  std::string error;
  auto root = StaticRoot::open((t.base / "root").string(), &error);
  REQUIRE_MESSAGE(root, error);
  for (auto m : {StaticRoot::Method::kAuto, StaticRoot::Method::kRealpath}) {
    CAPTURE(static_cast<int>(m));
    std::string body;
    CHECK(open_status(*root, "/a.txt", m, &body) == "a.txt");
    CHECK(body == "0123456789");
    CHECK(open_status(*root, "/", m, &body) == "index.html");
    CHECK(body == "<h1>home</h1>");
    CHECK(open_status(*root, "/sub", m) == "sub/index.html");  // directory -> index
    CHECK(open_status(*root, "/sub/page.css", m) == "sub/page.css");
    CHECK(open_status(*root, "/link_in", m, &body) == "link_in");
    CHECK(body == "0123456789");
    CHECK(open_status(*root, "/missing", m) == "404");
    CHECK(open_status(*root, "/link_out", m) == "404");
    CHECK(open_status(*root, "/link_abs", m) == "404");
    CHECK(open_status(*root, "/dir_out/secret.txt", m) == "404");
    // Leaving and re-entering the root: openat2 refuses the path outright;
    // the realpath fallback only looks at where it ends (inside the root).
    if (m == StaticRoot::Method::kAuto) CHECK(open_status(*root, "/dir_out/root/a.txt", m) == "404");
    CHECK(open_status(*root, "/fifo", m) == "404");  // not a regular file, and no blocking
    CHECK(open_status(*root, "/a.txt/x", m) == "404");
  }
  CHECK_FALSE(StaticRoot::open((t.base / "nope").string(), &error));
}

TEST_CASE("MIME types by extension") {
  CHECK(mime_type("index.html") == "text/html; charset=utf-8");
  CHECK(mime_type("a/b/STYLE.CSS") == "text/css; charset=utf-8");
  CHECK(mime_type("app.js") == "text/javascript; charset=utf-8");
  CHECK(mime_type("x.json") == "application/json");
  CHECK(mime_type("x.wasm") == "application/wasm");
  CHECK(mime_type("f.woff2") == "font/woff2");
  CHECK(mime_type("p.svg") == "image/svg+xml");
  CHECK(mime_type("README") == "application/octet-stream");
  CHECK(mime_type(".bashrc") == "application/octet-stream");
  CHECK(mime_type("dir.d/file") == "application/octet-stream");
}

TEST_CASE("ETag and HTTP dates") {
  char e[48];
  CHECK(format_etag(0x1234, 1, 5, std::span<char, 48>(e)) == "\"1234-3b9aca05\"");
  char d[32];
  CHECK(format_http_date(784111777, std::span<char, 32>(d)) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == std::optional<time_t>(784111777));
  CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == std::optional<time_t>(784111777));
  CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == std::optional<time_t>(784111777));
  CHECK_FALSE(parse_http_date("yesterday"));
  CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"));
  CHECK_FALSE(parse_http_date("Sun, 32 Nov 1994 08:49:37 GMT"));
  CHECK_FALSE(parse_http_date(""));
}

TEST_CASE("single byte ranges") {
  using K = ByteRange::Kind;
  auto pr = [](std::string_view h, uint64_t size) { return parse_range(h, size); };
  ByteRange r = pr("bytes=0-4", 10);
  CHECK(r.kind == K::kPartial);
  CHECK(r.first == 0);
  CHECK(r.last == 4);
  r = pr("bytes=5-", 10);
  CHECK((r.kind == K::kPartial && r.first == 5 && r.last == 9));
  r = pr("bytes=-3", 10);
  CHECK((r.kind == K::kPartial && r.first == 7 && r.last == 9));
  r = pr("bytes=-30", 10);
  CHECK((r.kind == K::kPartial && r.first == 0 && r.last == 9));
  r = pr("bytes=8-100", 10);
  CHECK((r.kind == K::kPartial && r.first == 8 && r.last == 9));
  CHECK(pr("BYTES=0-0", 10).kind == K::kPartial);
  CHECK(pr("bytes=10-", 10).kind == K::kUnsatisfiable);
  CHECK(pr("bytes=99999999999999999999999-", 10).kind == K::kUnsatisfiable);
  CHECK(pr("bytes=-0", 10).kind == K::kUnsatisfiable);
  CHECK(pr("bytes=0-", 0).kind == K::kUnsatisfiable);
  CHECK(pr("bytes=0-1,3-4", 10).kind == K::kFull);
  CHECK(pr("bytes=5-2", 10).kind == K::kFull);
  CHECK(pr("bytes=a-b", 10).kind == K::kFull);
  CHECK(pr("bytes=-", 10).kind == K::kFull);
  CHECK(pr("items=0-1", 10).kind == K::kFull);
  CHECK(pr("bytes=1", 10).kind == K::kFull);
}

TEST_CASE("conditional and range evaluation") {
  const uint64_t size = 100;
  const int64_t mtime = 784111777;
  auto eval = [&](std::string_view method, std::vector<HeaderField> h, StaticDecision* d) {
    evaluate_static(method, h, size, mtime, 0, d);
  };
  StaticDecision d;
  eval("GET", {}, &d);
  CHECK(d.status == 200);
  CHECK(d.length == 100);
  CHECK(d.last_modified == "Sun, 06 Nov 1994 08:49:37 GMT");
  std::string etag(d.etag);

  StaticDecision a;
  eval("GET", {{"If-None-Match", "\"other\", " + etag}}, &a);
  CHECK(a.status == 304);
  eval("HEAD", {{"If-None-Match", "W/" + etag}}, &a);  // weak comparison
  CHECK(a.status == 304);
  eval("GET", {{"If-None-Match", "*"}}, &a);
  CHECK(a.status == 304);
  eval("GET", {{"If-None-Match", "\"other\""}, {"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}}, &a);
  CHECK(a.status == 200);  // If-None-Match wins over If-Modified-Since
  eval("GET", {{"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}}, &a);
  CHECK(a.status == 304);
  eval("GET", {{"If-Modified-Since", "Sun, 06 Nov 1994 08:49:36 GMT"}}, &a);
  CHECK(a.status == 200);
  eval("GET", {{"If-Modified-Since", "garbage"}}, &a);
  CHECK(a.status == 200);
  eval("POST", {{"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}}, &a);
  CHECK(a.status == 200);

  StaticDecision r;
  eval("GET", {{"Range", "bytes=10-19"}}, &r);
  CHECK(r.status == 206);
  CHECK(r.offset == 10);
  CHECK(r.length == 10);
  CHECK(r.content_range == "bytes 10-19/100");
  eval("GET", {{"Range", "bytes=100-"}}, &r);
  CHECK(r.status == 416);
  CHECK(r.content_range == "bytes */100");
  eval("GET", {{"Range", "bytes=0-1,5-6"}}, &r);
  CHECK(r.status == 200);
  CHECK(r.length == 100);
  eval("HEAD", {{"Range", "bytes=0-1"}}, &r);
  CHECK(r.status == 200);
  eval("GET", {{"Range", "bytes=0-1"}, {"If-Range", etag}}, &r);
  CHECK(r.status == 206);
  eval("GET", {{"Range", "bytes=0-1"}, {"If-Range", "\"stale\""}}, &r);
  CHECK(r.status == 200);
  eval("GET", {{"Range", "bytes=0-1"}, {"If-Range", "W/" + etag}}, &r);
  CHECK(r.status == 200);  // If-Range needs a strong match
  eval("GET", {{"Range", "bytes=0-1"}, {"If-Range", "Sun, 06 Nov 1994 08:49:37 GMT"}}, &r);
  CHECK(r.status == 206);
  eval("GET", {{"Range", "bytes=0-1"}, {"If-Range", "Sun, 06 Nov 1994 08:49:38 GMT"}}, &r);
  CHECK(r.status == 200);
}
