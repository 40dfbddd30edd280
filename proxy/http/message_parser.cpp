#include "proxy/http/message_parser.hpp"

#include <algorithm>
#include <cstring>

namespace portico::http::detail {

namespace {

MessageParser* self(llhttp_t* p) { return static_cast<MessageParser*>(p->data); }

// Bytes allowed in a Host header value / authority (RFC 3986 reg-name,
// IP-literal, port): unreserved, sub-delims, ':', '[', ']', '%'.
bool is_host_char(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::strchr("-._~!$&'()*+,;=:[]%", c) != nullptr && c != 0;
}

bool valid_host(std::string_view h) {
  for (char c : h)
    if (!is_host_char(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

// ---- LineGuard ----

size_t LineGuard::scan(const char* p, size_t n, HttpError* err) {
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    if (line_index > 0 || !has_start_line) ++section_bytes;
    if (section_bytes > section_limit) {
      *err = {section_status, "header section too large"};
      return i;
    }
    if (prev_cr) {
      prev_cr = false;
      if (c != '\n') {
        *err = {syntax_status, "bare CR in message head"};
        return i;
      }
      if (line_len == 0 && line_index == 0 && has_start_line) {
        // Empty line(s) before the start line: RFC 9112 2.2 lets us ignore
        // them; they count against the section budget so they stay bounded.
        section_bytes += 2;
        if (section_bytes > section_limit) {
          *err = {section_status, "too many empty lines"};
          return i;
        }
      } else if (line_len == 0) {
        done = true;
        return i + 1;
      } else {
        ++line_index;
      }
      line_len = 0;
    } else if (c == '\r') {
      prev_cr = true;
    } else if (c == '\n') {
      *err = {syntax_status, "bare LF in message head"};
      return i;
    } else {
      if (line_len == 0 && line_index > 0 && (c == ' ' || c == '\t')) {
        *err = {syntax_status, "obs-fold or whitespace at line start"};
        return i;
      }
      ++line_len;
      const bool start_line = line_index == 0 && has_start_line;
      if (start_line && line_len > start_line_limit) {
        *err = {start_line_status, "start line too long"};
        return i;
      }
      // The ordinary bytes that follow, up to the next CR or LF, change only
      // the counts: take them in one step, as far as the limits allow (a
      // byte past a limit is left to the loop, which reports it).
      const size_t from = i + 1;
      const void* cr = std::memchr(p + from, '\r', n - from);
      size_t stop = cr ? static_cast<size_t>(static_cast<const char*>(cr) - p) : n;
      if (const void* lf = std::memchr(p + from, '\n', stop - from))
        stop = static_cast<size_t>(static_cast<const char*>(lf) - p);
      size_t run = stop - from;
      if (start_line) {
        run = std::min(run, start_line_limit - line_len);
      } else {
        run = std::min(run, section_limit - section_bytes);
        section_bytes += run;
      }
      line_len += run;
      i += run;
    }
  }
  return n;
}

// ---- MessageParser ----

const llhttp_settings_t MessageParser::kSettings = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = &MessageParser::on_message_begin;
  s.on_method = &MessageParser::on_method;
  s.on_url = &MessageParser::on_url;
  s.on_status = &MessageParser::on_status;
  s.on_version = &MessageParser::on_version;
  s.on_header_field = &MessageParser::on_header_field;
  s.on_header_value = &MessageParser::on_header_value;
  s.on_method_complete = &MessageParser::on_method_complete;
  s.on_url_complete = &MessageParser::on_url_complete;
  s.on_status_complete = &MessageParser::on_status_complete;
  s.on_version_complete = &MessageParser::on_version_complete;
  s.on_header_field_complete = &MessageParser::on_header_field_complete;
  s.on_header_value_complete = &MessageParser::on_header_value_complete;
  s.on_headers_complete = &MessageParser::on_headers_complete;
  s.on_body = &MessageParser::on_body;
  s.on_chunk_header = &MessageParser::on_chunk_header;
  s.on_message_complete = &MessageParser::on_message_complete;
  return s;
}();

MessageParser::MessageParser(llhttp_type_t type, const Limits& limits)
    : type_(type), limits_(limits), default_status_(type == HTTP_REQUEST ? 400 : 502) {
  // The head arena holds the start line and field section bytes; the guard
  // bounds both, so the arena cannot overflow (append() still checks).
  arena_cap_ = limits_.start_line + limits_.header_bytes + 16;
  // Not value-initialised: the arena is only read where it was written, and
  // untouched pages stay unbacked (an idle connection should cost little).
  arena_.reset(new char[arena_cap_]);
  fields_ = std::make_unique<HeaderField[]>(limits_.headers > 0 ? limits_.headers : 1);
  guard_.start_line_limit = limits_.start_line;
  guard_.section_limit = limits_.header_bytes;
  guard_.start_line_status = type == HTTP_REQUEST ? 414 : 502;
  guard_.section_status = type == HTTP_REQUEST ? 431 : 502;
  guard_.syntax_status = default_status_;
  reset();
}

void MessageParser::reset() {
  llhttp_init(&parser_, type_, &kSettings);  // strict: no lenient flags are ever set
  parser_.data = this;
  phase_ = Phase::kIdle;
  failed_ = {};
  head_request_ = false;
  start_message();
}

void MessageParser::start_message() {
  guard_.reset(true);
  arena_len_ = 0;
  element_start_ = 0;
  field_count_ = 0;
  pending_name_ = {};
  facts_ = Facts{};
  body_total_ = 0;
  switching_ = false;
  chunk_crlf_pending_ = 0;
}

ParseResult MessageParser::fail(HttpError e, size_t consumed) {
  phase_ = Phase::kFailed;
  failed_ = e;
  ParseResult r;
  r.event = ParseEvent::kError;
  r.consumed = consumed;
  r.error = e;
  return r;
}

namespace {
// From `p` (where llhttp stopped, inside or at the end of the method) to the
// end of the line: the rest of a token, SP, an origin-form, absolute-form or
// "*" target, SP, "HTTP/d.d", CRLF; all within [p, end).
bool unknown_method_line(const char* p, const char* end) {
  if (!p) return false;
  size_t n = 0;
  while (p + n < end && is_tchar(static_cast<unsigned char>(p[n]))) ++n;
  if (n == 0 || p + n >= end || p[n] != ' ') return false;
  const char* t = p + n + 1;
  const char* sp = t;
  while (sp < end && *sp != ' ' && static_cast<unsigned char>(*sp) > 0x20 && *sp != 0x7f) ++sp;
  const std::string_view target(t, static_cast<size_t>(sp - t));
  if (target.empty() || sp >= end || *sp != ' ') return false;
  if (target[0] != '/' && target != "*" && target.find("://") == std::string_view::npos) return false;
  const std::string_view rest(sp + 1, static_cast<size_t>(end - sp - 1));
  return rest.size() >= 10 && rest.substr(0, 5) == "HTTP/" && rest[5] >= '0' && rest[5] <= '9' && rest[6] == '.' &&
         rest[7] >= '0' && rest[7] <= '9' && rest.substr(8, 2) == "\r\n";
}
}  // namespace

HttpError MessageParser::map_llhttp_error(llhttp_errno_t e, const char* end) const {
  const char* reason = llhttp_get_error_reason(&parser_);
  if (reason == nullptr) reason = llhttp_errno_name(e);
  switch (e) {
    case HPE_PAUSED_H2_UPGRADE:
      return {type_ == HTTP_REQUEST ? 505 : 502, "HTTP/2 preface on an HTTP/1.1 connection"};
    case HPE_INVALID_METHOD: {
      // llhttp knows a fixed set of methods. A request line that is well
      // formed but for a method it does not know (a token) is one portico
      // does not implement: 501 (RFC 9110 9.1). Anything else (a PROXY
      // header from an untrusted peer, TLS bytes) stays a 400.
      if (type_ == HTTP_REQUEST && unknown_method_line(llhttp_get_error_pos(&parser_), end))
        return {501, "method not implemented"};
      return {default_status_, reason};
    }
    default:
      return {default_status_, reason};
  }
}

ParseResult MessageParser::parse(std::string_view input) {
  switch (phase_) {
    case Phase::kFailed:
      return fail(failed_, 0);
    case Phase::kUpgraded:
      return ParseResult{ParseEvent::kUpgrade, 0, {}, {}};
    case Phase::kClosed:
      if (input.empty()) return ParseResult{ParseEvent::kNeedMore, 0, {}, {}};
      return fail({default_status_, "message after Connection: close"}, 0);
    case Phase::kComplete:
      start_message();
      phase_ = Phase::kIdle;
      break;
    default:
      break;
  }
  // Never hand llhttp a null pointer: it restarts an open span (a body) at
  // the data pointer, and a null one ends the span, so the next call would
  // report body bytes from address 0 (a huge length). An empty non-null
  // input keeps the span alive and still collects a held event.
  static constexpr char kNoInput[1] = {0};
  const char* data = input.data() != nullptr ? input.data() : kNoInput;
  size_t total = input.size();
  size_t pos = 0;
  // A few internal pauses (trailer start) may happen per call; every loop turn
  // either consumes input or returns, so this is bounded by the input size + 2.
  while (true) {
    for (size_t i = pos; chunk_crlf_pending_ > 0 && i < total; ++i, --chunk_crlf_pending_)
      if (data[i] != (chunk_crlf_pending_ == 2 ? '\r' : '\n'))
        return fail({default_status_, "chunk data not followed by CRLF"}, pos);
    if (phase_ == Phase::kIdle && pos < total) phase_ = Phase::kHead;
    size_t limit = total - pos;
    HttpError guard_error;
    bool guarded = phase_ == Phase::kHead || phase_ == Phase::kTrailers;
    if (guarded) limit = guard_.scan(data + pos, limit, &guard_error);

    event_ = ParseEvent::kNeedMore;
    trailers_start_ = false;
    cb_error_ = {};
    llhttp_errno_t e = llhttp_execute(&parser_, data + pos, limit);
    size_t used = limit;
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
      used = static_cast<size_t>(llhttp_get_error_pos(&parser_) - (data + pos));
      if (e == HPE_PAUSED) llhttp_resume(&parser_);
    } else if (e != HPE_OK) {
      if (cb_error_) return fail(cb_error_, pos);  // ours, whatever code llhttp reports
      return fail(map_llhttp_error(e, data + pos + limit), pos);
    }
    pos += used;

    if (e == HPE_PAUSED_UPGRADE) {
      if (!switching_) {
        // The end of a message whose upgrade was declined (llhttp pauses
        // after it, before the next message): carry on with HTTP.
        llhttp_resume_after_upgrade(&parser_);
        continue;
      }
      phase_ = Phase::kUpgraded;  // defensive: we stop at message end first
      return ParseResult{ParseEvent::kUpgrade, pos, {}, {}};
    }
    if (e == HPE_OK) {
      if (guard_error) return fail(guard_error, pos);
      if (guarded && guard_.done)  // llhttp and the guard disagree on the head end
        return fail({default_status_, "malformed message head"}, pos);
      // A request line ended without a version: HTTP/0.9. llhttp learns that
      // only from the next byte, which a 0.9 client never sends (it waits for
      // the answer): refuse it now, as the complete head would be (505),
      // rather than at the header timeout.
      if (type_ == HTTP_REQUEST && phase_ == Phase::kHead && guard_.line_index > 0 && facts_.version.empty())
        return fail({505, "HTTP/0.9 request (no version)"}, pos);
      if (pos < total) continue;  // cannot happen (HPE_OK consumes all), be safe
      return ParseResult{ParseEvent::kNeedMore, pos, {}, {}};
    }
    // Paused by one of our callbacks.
    if (trailers_start_) {
      phase_ = Phase::kTrailers;
      guard_.reset(false);
      continue;
    }
    ParseResult r;
    r.event = event_;
    r.consumed = pos;
    if (event_ == ParseEvent::kBody) r.body = body_;
    return r;
  }
}

ParseResult MessageParser::finish() {
  if (phase_ == Phase::kFailed) return fail(failed_, 0);
  if (phase_ == Phase::kIdle || phase_ == Phase::kComplete || phase_ == Phase::kClosed ||
      phase_ == Phase::kUpgraded)
    return ParseResult{ParseEvent::kNeedMore, 0, {}, {}};
  if (phase_ == Phase::kBody && facts_.body == BodyKind::kUntilClose) {
    event_ = ParseEvent::kNeedMore;
    llhttp_errno_t e = llhttp_finish(&parser_);
    if ((e == HPE_PAUSED || e == HPE_OK) && event_ == ParseEvent::kMessageComplete) {
      if (e == HPE_PAUSED) llhttp_resume(&parser_);
      phase_ = Phase::kClosed;
      return ParseResult{ParseEvent::kMessageComplete, 0, {}, {}};
    }
  }
  return fail({default_status_, "connection closed mid-message"}, 0);
}

// ---- callbacks ----

int MessageParser::fail_cb(int status, const char* reason) {
  cb_error_ = {status, reason};
  llhttp_set_error_reason(&parser_, reason);
  return HPE_USER;
}

int MessageParser::append(const char* at, size_t len) {
  if (len > arena_cap_ - arena_len_)
    return fail_cb(type_ == HTTP_REQUEST ? 431 : 502, "message head too large");
  std::memcpy(arena_.get() + arena_len_, at, len);
  arena_len_ += len;
  return 0;
}

std::string_view MessageParser::take_element() {
  std::string_view v(arena_.get() + element_start_, arena_len_ - element_start_);
  element_start_ = arena_len_;
  return v;
}

int MessageParser::on_message_begin(llhttp_t*) { return 0; }

int MessageParser::on_method(llhttp_t* p, const char* at, size_t len) { return self(p)->append(at, len); }
int MessageParser::on_url(llhttp_t* p, const char* at, size_t len) { return self(p)->append(at, len); }
int MessageParser::on_status(llhttp_t* p, const char* at, size_t len) { return self(p)->append(at, len); }
int MessageParser::on_version(llhttp_t* p, const char* at, size_t len) { return self(p)->append(at, len); }

int MessageParser::on_method_complete(llhttp_t* p) {
  self(p)->facts_.method = self(p)->take_element();
  return 0;
}
int MessageParser::on_url_complete(llhttp_t* p) {
  self(p)->facts_.target = self(p)->take_element();
  return 0;
}
int MessageParser::on_status_complete(llhttp_t* p) {
  self(p)->facts_.reason = self(p)->take_element();
  return 0;
}
int MessageParser::on_version_complete(llhttp_t* p) {
  self(p)->facts_.version = self(p)->take_element();
  return 0;
}

int MessageParser::on_header_field(llhttp_t* p, const char* at, size_t len) {
  MessageParser* m = self(p);
  for (size_t i = 0; i < len; ++i)
    if (!is_tchar(static_cast<unsigned char>(at[i])))
      return m->fail_cb(m->default_status_, "invalid character in header name");
  if (m->phase_ == Phase::kTrailers) return 0;  // trailers are validated, not kept
  return m->append(at, len);
}

int MessageParser::on_header_value(llhttp_t* p, const char* at, size_t len) {
  MessageParser* m = self(p);
  for (size_t i = 0; i < len; ++i) {
    unsigned char c = static_cast<unsigned char>(at[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return m->fail_cb(m->default_status_, "invalid character in header value");
  }
  if (m->phase_ == Phase::kTrailers) return 0;
  return m->append(at, len);
}

int MessageParser::on_header_field_complete(llhttp_t* p) {
  MessageParser* m = self(p);
  if (m->phase_ == Phase::kTrailers) return 0;
  if (m->field_count_ >= m->limits_.headers)
    return m->fail_cb(m->type_ == HTTP_REQUEST ? 431 : 502, "too many header fields");
  m->pending_name_ = m->take_element();
  return 0;
}

int MessageParser::on_header_value_complete(llhttp_t* p) {
  MessageParser* m = self(p);
  if (m->phase_ == Phase::kTrailers) return 0;
  std::string_view name = m->pending_name_;
  m->pending_name_ = {};
  std::string_view value = trim_ows(m->take_element());
  if (name.empty()) return m->fail_cb(m->default_status_, "empty header name");
  m->fields_[m->field_count_++] = HeaderField{name, value};
  Facts& f = m->facts_;
  if (iequals(name, "host")) {
    ++f.host_count;
    f.host = value;
  } else if (iequals(name, "transfer-encoding")) {
    f.te_seen = true;
    bool any = false;
    for_each_list_element(value, [&](std::string_view coding) {
      any = true;
      if (!iequals(coding, "chunked")) f.te_unknown = true;
      return true;
    });
    if (!any) return m->fail_cb(m->default_status_, "empty Transfer-Encoding");
  } else if (iequals(name, "expect")) {
    if (iequals(value, "100-continue")) f.expect_continue = true;
  } else if (iequals(name, "upgrade")) {
    f.upgrade = value;
  }
  return 0;
}

int MessageParser::request_head_complete() {
  Facts& f = facts_;
  if (parser_.http_major != 1) return fail_cb(505, "HTTP version not supported");
  if (parser_.method == HTTP_CONNECT) return fail_cb(501, "CONNECT is not supported");
  if (f.te_seen && parser_.http_minor == 0)
    return fail_cb(400, "Transfer-Encoding in an HTTP/1.0 request");
  if (f.te_unknown) return fail_cb(501, "unsupported transfer coding");
  if (f.host_count > 1) return fail_cb(400, "more than one Host header");
  if (f.host_count == 0 && parser_.http_minor >= 1) return fail_cb(400, "missing Host header");
  if (!valid_host(f.host)) return fail_cb(400, "invalid Host header");
  // Request target forms: origin ("/..."), absolute ("http://a/b"), asterisk ("*").
  std::string_view t = f.target;
  if (t.empty()) return fail_cb(400, "empty request target");
  // A fragment is never part of a request target (RFC 9112 3.2): routing
  // would see the path before '#' and an origin might take the rest as path
  // ("/public#/../admin"). Refused, as HAProxy does.
  if (t.find('#') != std::string_view::npos) return fail_cb(400, "fragment in request target");
  if (t[0] != '/') {
    if (t == "*") {
      if (parser_.method != HTTP_OPTIONS) return fail_cb(400, "asterisk-form outside OPTIONS");
    } else {
      size_t scheme_end = t.find("://");
      std::string_view scheme = t.substr(0, scheme_end);
      if (scheme_end == std::string_view::npos || !(iequals(scheme, "http") || iequals(scheme, "https")))
        return fail_cb(400, "invalid request target");
      std::string_view rest = t.substr(scheme_end + 3);
      std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
      if (authority.empty() || !valid_host(authority) || authority.find('@') != std::string_view::npos)
        return fail_cb(400, "invalid authority in request target");
    }
  }
  if (parser_.flags & F_CHUNKED) {
    f.body = BodyKind::kChunked;
  } else if (parser_.flags & F_CONTENT_LENGTH) {
    f.body = BodyKind::kLength;
    f.content_length = parser_.content_length;
    if (f.content_length > limits_.body) return fail_cb(413, "request body too large");
  }
  if (parser_.http_minor == 0) f.expect_continue = false;  // RFC 9110 10.1.1
  f.keep_alive = llhttp_should_keep_alive(&parser_) != 0;
  f.upgrade_requested = parser_.upgrade != 0;
  switching_ = f.upgrade_requested;
  return 0;
}

int MessageParser::response_head_complete() {
  Facts& f = facts_;
  if (parser_.http_major != 1) return fail_cb(502, "upstream HTTP version not supported");
  int status = parser_.status_code;
  if (status < 100 || status > 599) return fail_cb(502, "invalid upstream status code");
  bool interim = status / 100 == 1;
  if (head_request_ || interim || status == 204 || status == 304) {
    parser_.flags |= F_SKIPBODY;  // what returning 1 from on_headers_complete does
    f.body = BodyKind::kNone;
  } else if (f.te_unknown) {
    // A coding other than chunked (gzip, ...) would reach the client
    // undecoded and unlabelled once the hop-by-hop Transfer-Encoding is
    // replaced by portico's own framing: refused, as nginx does.
    return fail_cb(502, "unsupported transfer coding from upstream");
  } else if (parser_.flags & F_CHUNKED) {
    f.body = BodyKind::kChunked;
  } else if (parser_.flags & F_CONTENT_LENGTH) {
    f.body = BodyKind::kLength;
    f.content_length = parser_.content_length;
  } else {
    f.body = BodyKind::kUntilClose;
  }
  if (status == 101) switching_ = true;
  if (!interim) head_request_ = false;  // applies to the final response only
  f.keep_alive = llhttp_should_keep_alive(&parser_) != 0 && f.body != BodyKind::kUntilClose;
  f.upgrade_requested = status == 101;
  return 0;
}

int MessageParser::on_headers_complete(llhttp_t* p) {
  MessageParser* m = self(p);
  int rc = m->type_ == HTTP_REQUEST ? m->request_head_complete() : m->response_head_complete();
  if (rc != 0) return rc;
  m->phase_ = Phase::kBody;
  m->event_ = ParseEvent::kHead;
  return HPE_PAUSED;
}

int MessageParser::on_body(llhttp_t* p, const char* at, size_t len) {
  MessageParser* m = self(p);
  if (len == 0) return 0;
  m->body_total_ += len;
  if (m->type_ == HTTP_REQUEST && m->body_total_ > m->limits_.body)
    return m->fail_cb(413, "request body too large");
  m->body_ = std::string_view(at, len);
  m->event_ = ParseEvent::kBody;
  // End of a chunk's data (the pause below makes parse() return right here,
  // so its next call starts with the two bytes llhttp will skip).
  if (m->facts_.body == BodyKind::kChunked && p->content_length == 0) m->chunk_crlf_pending_ = 2;
  return HPE_PAUSED;
}

int MessageParser::on_chunk_header(llhttp_t* p) {
  MessageParser* m = self(p);
  uint64_t size = p->content_length;
  // body_total_ <= limits_.body holds here (on_body fails as soon as it is exceeded).
  if (m->type_ == HTTP_REQUEST && size > m->limits_.body - m->body_total_)
    return m->fail_cb(413, "request body too large");
  if (size == 0) {  // last chunk: the trailer section follows; guard it
    m->trailers_start_ = true;
    return HPE_PAUSED;
  }
  return 0;
}

int MessageParser::on_message_complete(llhttp_t* p) {
  MessageParser* m = self(p);
  m->event_ = ParseEvent::kMessageComplete;
  if (m->switching_) {
    m->phase_ = Phase::kUpgraded;
  } else if (!m->facts_.keep_alive) {
    m->phase_ = Phase::kClosed;
  } else {
    m->phase_ = Phase::kComplete;
  }
  return HPE_PAUSED;
}

}  // namespace portico::http::detail
