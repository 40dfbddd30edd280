#pragma once
// The llhttp glue shared by RequestParser and ResponseParser (use those).
// Parses one message head into a fixed-capacity block (arena + field array,
// allocated once at construction), then streams the body as views into the
// caller's input. One per connection direction; owned by the connection, used
// only by its worker thread. Not copyable or movable (llhttp keeps `this`).

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "proxy/http/message.hpp"

namespace portico::http {

// What one parse() call produced.
enum class ParseEvent : uint8_t {
  kNeedMore,         // all input consumed; feed more bytes
  kHead,             // the head is complete: head() is valid
  kBody,             // `body` holds decoded body bytes (a view into the input)
  kMessageComplete,  // the message ended; the next call starts the next message
  kUpgrade,          // protocol switched (101 / upgrade request done): the rest of
                     // the input is not HTTP any more; nothing was consumed
  kError,            // `error` says what to answer; the parser stays failed
};

struct ParseResult {
  ParseEvent event = ParseEvent::kNeedMore;
  size_t consumed = 0;    // input bytes consumed by this call (always <= input size)
  std::string_view body;  // kBody only
  HttpError error;        // kError only
};

namespace detail {

// Validates head/trailer line structure ahead of llhttp, which (v8, loose
// build) accepts bare CR, obs-fold and some stray whitespace: every line must
// end in CRLF, no line of the field section may start with SP/HTAB, and the
// start line / field section byte budgets are enforced here.
struct LineGuard {
  size_t start_line_limit = 0;
  size_t section_limit = 0;
  int start_line_status = 414;  // 414 for requests, 502 for responses
  int section_status = 431;
  int syntax_status = 400;
  bool has_start_line = true;  // false for trailer sections
  uint32_t line_index = 0;
  size_t line_len = 0;
  size_t section_bytes = 0;
  bool prev_cr = false;
  bool done = false;  // the terminating empty line was scanned

  void reset(bool start_line) {
    has_start_line = start_line;
    line_index = start_line ? 0 : 1;
    line_len = 0;
    section_bytes = 0;
    prev_cr = false;
    done = false;
  }
  // Scans up to n bytes; returns how many are fine (stops right after the
  // final LF of the section, or at the first bad byte with *err set).
  size_t scan(const char* p, size_t n, HttpError* err);
};

class MessageParser {
 public:
  MessageParser(llhttp_type_t type, const Limits& limits);
  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  ParseResult parse(std::string_view input);
  // The peer closed its sending side. Completes an until-close body; an
  // error when a message is partly received; kNeedMore when idle.
  ParseResult finish();
  // Forget everything (new connection): ready for a first message.
  void reset();
  // The current message asked to switch protocols (Upgrade, CONNECT) but
  // will be answered as plain HTTP: parsing goes on after it instead of
  // stopping at its end. Call between its head and its end.
  void decline_upgrade() { switching_ = false; }

  const Limits& limits() const { return limits_; }

  // True between the first byte of a message and its end.
  bool in_message() const { return phase_ != Phase::kIdle && phase_ != Phase::kComplete; }

 protected:
  enum class Phase : uint8_t { kIdle, kHead, kBody, kTrailers, kComplete, kUpgraded, kClosed, kFailed };

  // Per-message facts collected while parsing the head.
  struct Facts {
    std::string_view method, target, version, reason;
    std::string_view host;
    std::string_view upgrade;
    uint32_t host_count = 0;
    bool te_seen = false;
    bool te_unknown = false;  // a coding other than chunked
    bool expect_continue = false;
    BodyKind body = BodyKind::kNone;
    uint64_t content_length = 0;
    bool keep_alive = false;
    bool upgrade_requested = false;  // llhttp's upgrade flag at head end
  };

  const HeaderField* fields() const { return fields_.get(); }
  uint32_t field_count() const { return field_count_; }
  const Facts& facts() const { return facts_; }
  const llhttp_t& llhttp() const { return parser_; }

  // Response parser: the request was HEAD, so the next final response has no body.
  bool head_request_ = false;

 private:
  static int on_message_begin(llhttp_t* p);
  static int on_method(llhttp_t* p, const char* at, size_t len);
  static int on_url(llhttp_t* p, const char* at, size_t len);
  static int on_status(llhttp_t* p, const char* at, size_t len);
  static int on_version(llhttp_t* p, const char* at, size_t len);
  static int on_header_field(llhttp_t* p, const char* at, size_t len);
  static int on_header_value(llhttp_t* p, const char* at, size_t len);
  static int on_method_complete(llhttp_t* p);
  static int on_url_complete(llhttp_t* p);
  static int on_status_complete(llhttp_t* p);
  static int on_version_complete(llhttp_t* p);
  static int on_header_field_complete(llhttp_t* p);
  static int on_header_value_complete(llhttp_t* p);
  static int on_headers_complete(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, size_t len);
  static int on_chunk_header(llhttp_t* p);
  static int on_message_complete(llhttp_t* p);
  static const llhttp_settings_t kSettings;

  int append(const char* at, size_t len);
  std::string_view take_element();
  int fail_cb(int status, const char* reason);
  int request_head_complete();
  int response_head_complete();
  void start_message();
  ParseResult fail(HttpError e, size_t consumed);
  HttpError map_llhttp_error(llhttp_errno_t e, const char* end) const;  // end: of the input llhttp saw

  llhttp_t parser_{};
  llhttp_type_t type_;
  Limits limits_;
  int default_status_;  // 400 for requests, 502 for responses
  Phase phase_ = Phase::kIdle;
  LineGuard guard_;

  std::unique_ptr<char[]> arena_;
  size_t arena_cap_ = 0;
  size_t arena_len_ = 0;
  size_t element_start_ = 0;
  std::unique_ptr<HeaderField[]> fields_;
  uint32_t field_count_ = 0;
  std::string_view pending_name_;

  Facts facts_;
  uint64_t body_total_ = 0;
  bool switching_ = false;  // response 101 / request upgrade: stop at message end
  // llhttp 8 skips the two bytes after a chunk's data without looking at
  // them; parse() checks they are CRLF (2 = both still to come).
  uint8_t chunk_crlf_pending_ = 0;

  // Set by callbacks for parse() to report.
  ParseEvent event_ = ParseEvent::kNeedMore;
  bool trailers_start_ = false;
  std::string_view body_;
  HttpError cb_error_;
  HttpError failed_;
};

}  // namespace detail
}  // namespace portico::http
