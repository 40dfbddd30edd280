#include "mdns/name.hpp"

namespace portico::mdns {

namespace {
char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }
}  // namespace

Name name_from_labels(const std::vector<std::string_view>& labels) {
  Name out;
  for (auto l : labels) {
    if (l.empty() || l.size() > kMaxLabel) return {};
    out.push_back(char(l.size()));
    out.append(l);
  }
  out.push_back('\0');
  if (out.size() > kMaxName) return {};
  return out;
}

Name name_from_dotted(std::string_view dotted) {
  while (!dotted.empty() && dotted.back() == '.') dotted.remove_suffix(1);
  std::vector<std::string_view> labels;
  while (!dotted.empty()) {
    auto dot = dotted.find('.');
    labels.push_back(dotted.substr(0, dot));
    if (dot == std::string_view::npos) break;
    dotted.remove_prefix(dot + 1);
    if (dotted.empty()) return {};
  }
  return name_from_labels(labels);
}

Name name_prepend(std::string_view label, const Name& name) {
  if (label.empty() || label.size() > kMaxLabel || name.empty()) return {};
  if (label.size() + 1 + name.size() > kMaxName) return {};
  Name out;
  out.push_back(char(label.size()));
  out.append(label);
  out.append(name);
  return out;
}

bool name_valid(const uint8_t* wire, size_t len) {
  if (len == 0 || len > kMaxName) return false;
  size_t pos = 0;
  while (pos < len) {
    uint8_t l = wire[pos];
    if (l == 0) return pos + 1 == len;
    if (l > kMaxLabel) return false;
    pos += 1 + l;
  }
  return false;
}

std::vector<std::string> name_labels(const Name& n) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < n.size()) {
    uint8_t l = uint8_t(n[pos]);
    if (l == 0 || pos + 1 + l > n.size()) break;
    out.emplace_back(n.substr(pos + 1, l));
    pos += 1 + l;
  }
  return out;
}

std::string name_first_label(const Name& n) {
  if (n.empty()) return {};
  uint8_t l = uint8_t(n[0]);
  if (1 + size_t(l) > n.size()) return {};
  return n.substr(1, l);
}

Name name_parent(const Name& n) {
  if (n.empty()) return {};
  size_t skip = 1 + uint8_t(n[0]);
  if (uint8_t(n[0]) == 0 || skip >= n.size()) return {};
  return n.substr(skip);
}

std::string name_to_text(const Name& n) {
  std::string out;
  for (const auto& l : name_labels(n)) {
    if (!out.empty()) out.push_back('.');
    for (char c : l) {
      if (c == '.' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
  }
  return out;
}

Name name_lower(const Name& n) {
  Name out = n;
  // Length bytes are <= 63 so lowering them is a no-op; no need to walk the labels.
  for (auto& c : out) c = lower(c);
  return out;
}

bool name_equal(const Name& a, const Name& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

}  // namespace portico::mdns
