#pragma once
// Test helper: drives a RequestParser/ResponseParser over an input fed in
// chunks of a given size and records what came out (copied to std::string).

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/http/request_parser.hpp"
#include "proxy/http/response_parser.hpp"

namespace portico::http::test {

struct Message {
  std::string start1, start2;  // method + target, or status + reason
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool complete = false;
  bool keep_alive = false;
  bool expect_continue = false;
  bool upgrade = false;
  BodyKind kind = BodyKind::kNone;
  uint64_t content_length = 0;
};

struct Run {
  std::vector<Message> messages;
  int error = 0;            // status of a kError
  bool upgraded = false;    // kUpgrade seen
  size_t consumed = 0;      // total input consumed
  std::string leftover;     // bytes not consumed when the run stopped
};

template <class Parser, class OnHead>
Run drive(Parser& p, std::string_view input, size_t chunk, OnHead on_head, bool eof = false) {
  Run run;
  size_t fed = 0, pos = 0;
  for (int guard = 0; guard < 1000000; ++guard) {
    if (pos == fed && fed < input.size()) fed = std::min(input.size(), fed + chunk);
    ParseResult r = p.parse(input.substr(pos, fed - pos));
    REQUIRE(r.consumed <= fed - pos);
    pos += r.consumed;
    switch (r.event) {
      case ParseEvent::kNeedMore:
        if (fed == input.size()) {
          if (eof) {
            ParseResult f = p.finish();
            if (f.event == ParseEvent::kError) run.error = f.error.status;
            if (f.event == ParseEvent::kMessageComplete && !run.messages.empty())
              run.messages.back().complete = true;
          }
          goto done;
        }
        break;
      case ParseEvent::kHead:
        run.messages.emplace_back();
        on_head(p, run.messages.back());
        break;
      case ParseEvent::kBody:
        REQUIRE(!run.messages.empty());
        run.messages.back().body.append(r.body);
        break;
      case ParseEvent::kMessageComplete:
        REQUIRE(!run.messages.empty());
        run.messages.back().complete = true;
        break;
      case ParseEvent::kUpgrade:
        run.upgraded = true;
        goto done;
      case ParseEvent::kError:
        run.error = r.error.status;
        goto done;
    }
  }
done:
  run.consumed = pos;
  run.leftover = std::string(input.substr(pos));
  return run;
}

inline Run drive_request(std::string_view input, size_t chunk = 1u << 30, Limits limits = {}) {
  RequestParser p(limits);
  return drive(p, input, chunk, [](RequestParser& rp, Message& m) {
    const RequestHead& h = rp.head();
    m.start1 = std::string(h.method);
    m.start2 = std::string(h.target);
    for (const auto& f : h.headers) m.headers.emplace_back(std::string(f.name), std::string(f.value));
    m.keep_alive = h.keep_alive;
    m.expect_continue = h.expect_continue;
    m.upgrade = h.upgrade;
    m.kind = h.body;
    m.content_length = h.content_length;
  });
}

inline Run drive_response(std::string_view input, size_t chunk = 1u << 30, bool head = false,
                          bool eof = false) {
  ResponseParser p(Limits{});
  p.expect_head_response(head);
  return drive(
      p, input, chunk,
      [](ResponseParser& rp, Message& m) {
        const ResponseHead& h = rp.head();
        m.start1 = std::to_string(h.status);
        m.start2 = std::string(h.reason);
        for (const auto& f : h.headers)
          m.headers.emplace_back(std::string(f.name), std::string(f.value));
        m.keep_alive = h.keep_alive;
        m.upgrade = h.switching_protocols;
        m.kind = h.body;
        m.content_length = h.content_length;
      },
      eof);
}

}  // namespace portico::http::test
