// Replays a built-in corpus (and any files named on the command line)
// through the http fuzz target, so every build exercises it under the
// sanitizers without libFuzzer. Registered as the `fuzz_replay_http` test.

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// First byte: chunk size selector (see http_fuzz.cpp).
const std::string kCorpus[] = {
    std::string("\x00GET / HTTP/1.1\r\nHost: a.example.test\r\n\r\n", 40),
    "\x05GET /api/v1?x=1 HTTP/1.1\r\nHost: b.example.test:8080\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\n",
    "\xf0POST /users/42/edit HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /health HTTP/1.1\r\nHost: h\r\nX-Canary: 1\r\n\r\n",
    "\x02POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
    "\x01POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "\x03GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
    "\x04GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n\x81\x00",
    "\x06GET /%2e%2e/%2f/..%2f/a%00 HTTP/1.1\r\nHost: [::1]:80\r\nRange: bytes=-5\r\nIf-None-Match: *\r\n\r\n",
    "\x07GET http://x.example.test/api/a HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1,2-3\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
    "\x08HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 204 No Content\r\n\r\n",
    "\x09HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
    "\x0aHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nraw",
    "\x0bHTTP/1.0 200 OK\r\n\r\nuntil close",
    "\x0cGET / HTTP/1.1\r\nHost: h\r\n\r\r\n",
    "\x0d\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    "\x0ePOST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
    "\x0fGET /" + std::string(600, 'a') + " HTTP/1.1\r\n\r\n",
    "\x10GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(3000, 'x') + "\r\n\r\n",
    "\x11OPTIONS * HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
    "\x12PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "\x13GET /users/123/abc HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
};

}  // namespace

int main(int argc, char** argv) {
  size_t runs = 0;
  for (const auto& input : kCorpus) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    // Every prefix too: truncated input is the common case on a socket.
    for (size_t n = 0; n < input.size(); n += 7)
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), n);
    ++runs;
  }
  for (int i = 1; i < argc; ++i) {
    std::ifstream f(argv[i], std::ios::binary);
    if (!f) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 1;
    }
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ++runs;
  }
  std::printf("fuzz_replay_http: %zu inputs ok\n", runs);
  return 0;
}
