#include "conf/reader.hpp"

#include <algorithm>

namespace portico::conf {

Mark mark_of(const YAML::Node& n) {
  if (!n.IsDefined()) return {};
  YAML::Mark m = n.Mark();
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

namespace {
bool valid_var_name(std::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}
}  // namespace

std::optional<std::string> substitute_env(std::string_view in, const EnvLookup& env,
                                          std::string& err) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    char c = in[i];
    if (c != '$' || i + 1 >= in.size()) {
      out += c;
      ++i;
      continue;
    }
    if (in[i + 1] == '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (in[i + 1] != '{') {
      out += c;
      ++i;
      continue;
    }
    size_t close = in.find('}', i + 2);
    if (close == std::string_view::npos) {
      err = "unterminated '${' in '" + std::string(in) + "'";
      return std::nullopt;
    }
    std::string_view body = in.substr(i + 2, close - i - 2);
    std::string_view name = body;
    std::optional<std::string_view> dflt;
    if (size_t sep = body.find(":-"); sep != std::string_view::npos) {
      name = body.substr(0, sep);
      dflt = body.substr(sep + 2);
    }
    if (!valid_var_name(name)) {
      err = "invalid environment variable name '" + std::string(name) + "' in '" +
            std::string(in) + "'";
      return std::nullopt;
    }
    std::string value;
    bool found = env && env(name, value);
    if (dflt && (!found || value.empty())) {
      out += *dflt;
    } else if (found) {
      out += value;
    } else {
      err = "environment variable '" + std::string(name) + "' is not set (use ${" +
            std::string(name) + ":-default} for a default)";
      return std::nullopt;
    }
    i = close + 1;
  }
  return out;
}

std::string clip(std::string_view s) {
  constexpr size_t kMax = 80;
  if (s.size() <= kMax) return std::string(s);
  return std::string(s.substr(0, kMax - 3)) + "...";
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Scalar: return "'" + clip(n.Scalar()) + "'";
    default: return "nothing";
  }
}

std::string size_str(Size s) {
  static const char* const kUnits[] = {"", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (u < 4 && s != 0 && s % 1024 == 0) {
    s /= 1024;
    ++u;
  }
  return std::to_string(s) + kUnits[u];
}

std::string duration_str(Duration d) {
  int64_t ns = d.count();
  struct Unit { int64_t ns; const char* name; };
  static const Unit kUnits[] = {{86400'000'000'000, "d"}, {3600'000'000'000, "h"},
                                {60'000'000'000, "m"},    {1'000'000'000, "s"},
                                {1'000'000, "ms"},        {1'000, "us"}};
  if (ns == 0) return "0s";
  for (const auto& u : kUnits)
    if (ns % u.ns == 0) return std::to_string(ns / u.ns) + u.name;
  return std::to_string(ns) + "ns";
}

void Reader::error(Mark m, const std::string& path, const std::string& msg) {
  errors_.push_back({file_, m.line, m.column, path.empty() ? msg : path + ": " + msg});
}

std::optional<std::string> Reader::scalar(const YAML::Node& n, const std::string& path,
                                          const char* what) {
  if (!n.IsScalar()) {
    error(n, path, std::string("expected ") + what + ", got " + describe(n));
    return std::nullopt;
  }
  std::string err;
  auto s = substitute_env(n.Scalar(), env_, err);
  if (!s) error(n, path, err);
  return s;
}

namespace {
// Well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) n = 1, cp = c & 0x1Fu;
    else if ((c & 0xF0) == 0xE0) n = 2, cp = c & 0x0Fu;
    else if ((c & 0xF8) == 0xF0) n = 3, cp = c & 0x07u;
    else return false;
    if (s.size() - i <= n) return false;  // cut short
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3Fu);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}
}  // namespace

std::optional<std::string> Reader::string(const YAML::Node& n, const std::string& path) {
  auto s = scalar(n, path);
  if (s && s->empty()) {
    error(n, path, "must not be empty");
    return std::nullopt;
  }
  // YAML is UTF-8 text; yaml-cpp passes other bytes through, and they would
  // reach the metrics, /config (JSON) and the logs.
  if (s && !valid_utf8(*s)) {
    error(n, path, "is not valid UTF-8");
    return std::nullopt;
  }
  return s;
}

bool Fields::name(std::string_view key, std::string& out) {
  if (!str(key, out)) return false;
  for (unsigned char c : out) {
    if (c < 0x20 || c == 0x7f) {
      r_.error(*get(key), sub(key), "must not contain control characters");
      return false;
    }
  }
  return true;
}

std::optional<bool> Reader::boolean(const YAML::Node& n, const std::string& path) {
  auto s = scalar(n, path, "true or false");
  if (!s) return std::nullopt;
  std::string v = *s;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "true" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "no" || v == "off") return false;
  error(n, path, "expected true or false, got '" + clip(*s) + "'");
  return std::nullopt;
}

std::optional<uint64_t> Reader::integer(const YAML::Node& n, const std::string& path, uint64_t lo,
                                        uint64_t hi) {
  auto s = scalar(n, path, "an integer");
  if (!s) return std::nullopt;
  uint64_t v = 0;
  bool ok = !s->empty() && s->size() <= 20;
  for (char c : *s) {
    if (!ok) break;
    if (c < '0' || c > '9' || __builtin_mul_overflow(v, 10u, &v) ||
        __builtin_add_overflow(v, uint64_t(c - '0'), &v))
      ok = false;
  }
  if (!ok) {
    error(n, path, "expected an integer, got '" + clip(*s) + "'");
    return std::nullopt;
  }
  if (v < lo || v > hi) {
    error(n, path,
          "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + clip(*s));
    return std::nullopt;
  }
  return v;
}

std::optional<Duration> Reader::duration(const YAML::Node& n, const std::string& path,
                                         Duration lo, Duration hi) {
  auto s = scalar(n, path, "a duration like 10s");
  if (!s) return std::nullopt;
  auto d = parse_duration(*s);
  if (!d) {
    error(n, path, "expected a duration like 10s, got '" + clip(*s) + "'");
    return std::nullopt;
  }
  if (*d < lo || *d > hi) {
    error(n, path,
          "must be between " + duration_str(lo) + " and " + duration_str(hi) + ", got " + clip(*s));
    return std::nullopt;
  }
  return d;
}

std::optional<Size> Reader::size(const YAML::Node& n, const std::string& path, Size lo, Size hi) {
  auto s = scalar(n, path, "a size like 16KiB");
  if (!s) return std::nullopt;
  auto v = parse_size(*s);
  if (!v) {
    error(n, path, "expected a size like 16KiB, got '" + clip(*s) + "'");
    return std::nullopt;
  }
  if (*v < lo || *v > hi) {
    error(n, path, "must be between " + size_str(lo) + " and " + size_str(hi) + ", got " + clip(*s));
    return std::nullopt;
  }
  return v;
}

std::optional<Address> Reader::address(const YAML::Node& n, const std::string& path) {
  auto s = scalar(n, path, "an address like 127.0.0.1:8080");
  if (!s) return std::nullopt;
  std::string why;
  auto a = parse_address(*s, &why);
  if (!a) error(n, path, "bad address '" + *s + "': " + why);
  return a;
}

std::optional<Address> Reader::ip_port(const YAML::Node& n, const std::string& path,
                                       uint16_t dflt) {
  auto s = scalar(n, path, "an IP address");
  if (!s) return std::nullopt;
  std::string why;
  auto a = parse_ip_port(*s, dflt, &why);
  if (!a) error(n, path, "bad address '" + *s + "': " + why);
  return a;
}

std::optional<Cidr> Reader::cidr(const YAML::Node& n, const std::string& path) {
  auto s = scalar(n, path, "a network like 10.0.0.0/8");
  if (!s) return std::nullopt;
  auto c = parse_cidr(*s);
  if (!c) error(n, path, "expected a network like 10.0.0.0/8 or ::1/128, got '" + clip(*s) + "'");
  return c;
}

std::optional<std::vector<YAML::Node>> Reader::list(const YAML::Node& n, const std::string& path,
                                                    bool allow_scalar) {
  std::vector<YAML::Node> out;
  if (allow_scalar && n.IsScalar()) {
    out.push_back(n);
    return out;
  }
  if (!n.IsSequence()) {
    error(n, path, "expected a list, got " + describe(n));
    return std::nullopt;
  }
  for (const auto& item : n) out.push_back(item);
  return out;
}

std::optional<std::vector<std::string>> Reader::string_list(const YAML::Node& n,
                                                            const std::string& path,
                                                            bool allow_scalar) {
  auto items = list(n, path, allow_scalar);
  if (!items) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (size_t i = 0; i < items->size(); ++i) {
    auto s = string((*items)[i], n.IsSequence() ? path + "[" + std::to_string(i) + "]" : path);
    if (s) out.push_back(*s);
    else ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::vector<std::pair<std::string, YAML::Node>>> Reader::string_map(
    const YAML::Node& n, const std::string& path) {
  if (!n.IsMap()) {
    error(n, path, "expected a mapping, got " + describe(n));
    return std::nullopt;
  }
  std::vector<std::pair<std::string, YAML::Node>> out;
  bool ok = true;
  for (const auto& kv : n) {
    if (!kv.first.IsScalar() || kv.first.Scalar().empty()) {
      error(kv.first, path, "keys must be non-empty strings");
      ok = false;
      continue;
    }
    const std::string& k = kv.first.Scalar();
    bool dup = std::any_of(out.begin(), out.end(), [&](const auto& e) { return e.first == k; });
    if (dup) {
      error(kv.first, path, "duplicate key '" + k + "'");
      ok = false;
      continue;
    }
    out.emplace_back(k, kv.second);
  }
  if (!ok) return std::nullopt;
  return out;
}

Fields::Fields(Reader& r, const YAML::Node& n, std::string path, const char* kind,
               std::initializer_list<const char*> keys)
    : r_(r), node_(n), path_(std::move(path)), kind_(kind) {
  if (!n.IsMap()) {
    r_.error(n, path_, "expected a mapping (" + kind_ + "), got " + describe(n));
    return;
  }
  ok_ = true;
  std::string where = kind_.empty() ? std::string("at the top level") : "in " + kind_;
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) {
      r_.error(kv.first, path_, "keys must be plain names " + where);
      continue;
    }
    const std::string& k = kv.first.Scalar();
    bool known = std::any_of(keys.begin(), keys.end(), [&](const char* a) { return k == a; });
    if (!known) {
      r_.error(kv.first, path_, "unknown key '" + k + "' " + where);
      continue;
    }
    if (std::find(names_.begin(), names_.end(), k) != names_.end()) {
      r_.error(kv.first, path_, "duplicate key '" + k + "' " + where);
      continue;
    }
    names_.push_back(k);
    entries_.emplace_back(kv.first, kv.second);
  }
}

const YAML::Node* Fields::get(std::string_view key) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == key) return &entries_[i].second;
  return nullptr;
}

const YAML::Node* Fields::key_node(std::string_view key) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == key) return &entries_[i].first;
  return nullptr;
}

std::string Fields::sub(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

bool Fields::require(std::string_view key) {
  if (has(key)) return true;
  std::string where = kind_.empty() ? std::string("at the top level") : "in " + kind_;
  r_.error(node_, path_, "missing required key '" + std::string(key) + "' " + where);
  return false;
}

bool Fields::str(std::string_view key, std::string& out) {
  const YAML::Node* v = get(key);
  if (!v) return false;
  auto s = r_.string(*v, sub(key));
  if (s) out = *s;
  return s.has_value();
}

bool Fields::opt_str(std::string_view key, std::optional<std::string>& out) {
  const YAML::Node* v = get(key);
  if (!v) return false;
  if (v->IsNull()) {
    out.reset();
    return true;
  }
  auto s = r_.string(*v, sub(key));
  if (s) out = *s;
  return s.has_value();
}

bool Fields::boolean(std::string_view key, bool& out) {
  const YAML::Node* v = get(key);
  if (!v) return false;
  auto b = r_.boolean(*v, sub(key));
  if (b) out = *b;
  return b.has_value();
}

bool Fields::duration(std::string_view key, Duration& out, Duration lo, Duration hi) {
  const YAML::Node* v = get(key);
  if (!v) return false;
  auto d = r_.duration(*v, sub(key), lo, hi);
  if (d) out = *d;
  return d.has_value();
}

bool Fields::opt_duration(std::string_view key, std::optional<Duration>& out, Duration lo,
                          Duration hi) {
  const YAML::Node* v = get(key);
  if (!v) return false;
  if (v->IsNull()) {
    out.reset();
    return true;
  }
  auto d = r_.duration(*v, sub(key), lo, hi);
  if (d) out = *d;
  return d.has_value();
}

bool Fields::size(std::string_view key, Size& out, Size lo, Size hi) {
  const YAML::Node* v = get(key);
  if (!v) return false;
  auto s = r_.size(*v, sub(key), lo, hi);
  if (s) out = *s;
  return s.has_value();
}

bool Fields::address(std::string_view key, Address& out) {
  const YAML::Node* v = get(key);
  if (!v) return false;
  auto a = r_.address(*v, sub(key));
  if (a) out = *a;
  return a.has_value();
}

bool Fields::string_list(std::string_view key, std::vector<std::string>& out, bool allow_scalar) {
  const YAML::Node* v = get(key);
  if (!v) return false;
  auto l = r_.string_list(*v, sub(key), allow_scalar);
  if (l) out = std::move(*l);
  return l.has_value();
}

}  // namespace portico::conf
