// libFuzzer target: bytes -> RequestParser (fed in chunks whose size the
// first byte picks) -> Router, header transforms, serializer and static path
// mapping for every head; the same bytes also go through the ResponseParser.
// Checks the invariants the connection code relies on (consumption never
// exceeds the input, body views stay inside it, errors carry a status).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "proxy/http/headers.hpp"
#include "proxy/http/request_parser.hpp"
#include "proxy/http/response_parser.hpp"
#include "proxy/http/router.hpp"
#include "proxy/http/static_path.hpp"

namespace {

using namespace portico;
using namespace portico::http;

#define FUZZ_ASSERT(c) \
  do {                 \
    if (!(c)) std::abort(); \
  } while (0)

const Router& router() {
  static const Router r = [] {
    std::vector<conf::Route> routes(5);
    routes[0].match.host = "*.example.test";
    routes[0].match.path_prefix = "/api/";
    routes[1].match.path_regex = "/users/[0-9]+(/[a-z]+)*";
    routes[1].match.methods = {"GET", "HEAD"};
    routes[2].match.path = "/health";
    routes[2].match.headers = {{"X-Canary", "1"}};
    routes[3].match.host = "[::1]";
    std::string error;
    auto compiled = Router::compile(routes, &error);
    if (!compiled) std::abort();
    return std::move(*compiled);
  }();
  return r;
}

uint64_t fixed_rng(void*) { return 0x0123456789abcdefull; }

void on_request_head(const RequestHead& h) {
  FUZZ_ASSERT(h.version_minor <= 9);
  auto idx = router().match(RouteInput{h.host, h.path, h.method, h.headers});
  FUZZ_ASSERT(!idx || *idx < router().size());
  char rewritten[512];
  (void)rewrite_path_prefix(h.path, h.query, "/api/", "/", rewritten);
  char rel[512];
  StaticPath p = resolve_static_path(h.path, "index.html", rel);
  if (p.status == 0) {
    FUZZ_ASSERT(!p.relative.empty() && p.relative.front() != '/');
    FUZZ_ASSERT(p.relative.find("/../") == std::string_view::npos);
    FUZZ_ASSERT(p.relative.substr(0, 3) != "../" && p.relative != "..");
  }
  static HeaderSet set(128, 4096);
  if (!set.assign(h.headers)) return;
  strip_hop_by_hop(set, h.websocket());
  set_framing(set, h.body, h.content_length);
  add_forwarding_headers(set, ForwardedInfo{"127.0.0.1", false, h.host, h.version_minor});
  ensure_request_id(set, RandomSource{&fixed_rng, nullptr});
  char out[8192];
  (void)serialize_request_head(out, h.method, h.target, set.fields());
  StaticDecision d;
  evaluate_static(h.method, h.headers, 1000, 784111777, 0, &d);
  FUZZ_ASSERT(d.status == 200 || d.status == 206 || d.status == 304 || d.status == 416);
  FUZZ_ASSERT(d.offset + d.length <= 1000);
}

template <class Parser, class OnHead>
void run(Parser& parser, const uint8_t* data, size_t size, size_t chunk, OnHead on_head) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t fed = 0, pos = 0;
  for (size_t turns = 0; turns < 4 * size + 16; ++turns) {
    if (pos == fed && fed < size) fed = std::min(size, fed + chunk);
    std::string_view window = in.substr(pos, fed - pos);
    ParseResult r = parser.parse(window);
    FUZZ_ASSERT(r.consumed <= window.size());
    pos += r.consumed;
    switch (r.event) {
      case ParseEvent::kNeedMore:
        FUZZ_ASSERT(r.consumed == window.size());
        if (fed == size) {
          parser.finish();
          return;
        }
        break;
      case ParseEvent::kHead:
        on_head(parser);
        break;
      case ParseEvent::kBody:
        FUZZ_ASSERT(!r.body.empty());
        FUZZ_ASSERT(r.body.data() >= window.data() &&
                    r.body.data() + r.body.size() <= window.data() + window.size());
        break;
      case ParseEvent::kMessageComplete:
        break;
      case ParseEvent::kUpgrade:
        FUZZ_ASSERT(r.consumed == 0);
        return;
      case ParseEvent::kError:
        FUZZ_ASSERT(r.error.status >= 400 && r.error.status <= 599);
        return;
    }
  }
  std::abort();  // no progress: the parser loops
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = (data[0] % 17) + 1;
  if (data[0] >= 0xf0) chunk = size;  // sometimes everything at once
  ++data;
  --size;
  Limits limits;
  limits.start_line = 512;
  limits.header_bytes = 2048;
  limits.headers = 32;
  limits.body = 4096;
  RequestParser req(limits);
  run(req, data, size, chunk, [](RequestParser& p) { on_request_head(p.head()); });
  ResponseParser resp(limits);
  resp.expect_head_response((size & 1) != 0);
  run(resp, data, size, chunk, [](ResponseParser& p) {
    const ResponseHead& h = p.head();
    FUZZ_ASSERT(h.status >= 100 && h.status <= 599);
    char out[8192];
    (void)serialize_response_head(out, h.status, h.reason, h.headers);
  });
  return 0;
}
