#include "proxy/modules/mdns_table.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

namespace portico::modules {

std::shared_ptr<const MdnsInstanceList> MdnsTable::get(std::string_view type) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = lists_.find(type);
  return it == lists_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const MdnsInstanceList>> MdnsTable::all() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<const MdnsInstanceList>> out;
  out.reserve(lists_.size());
  for (const auto& [type, list] : lists_) out.push_back(list);
  return out;
}

void MdnsTable::publish(std::string_view type, std::vector<MdnsInstance> instances) {
  auto list = std::make_shared<MdnsInstanceList>();
  list->type = std::string(type);
  list->instances = std::move(instances);
  std::lock_guard<std::mutex> lock(mu_);
  list->version = version_.load(std::memory_order_relaxed) + 1;
  auto it = lists_.find(type);
  if (it == lists_.end()) {
    lists_.emplace(std::string(type), std::move(list));
  } else {
    it->second = std::move(list);
  }
  version_.fetch_add(1, std::memory_order_release);
}

void MdnsTable::reset(const std::vector<std::string>& types, bool clear) {
  std::set<std::string, std::less<>> keep(types.begin(), types.end());
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t v = version_.load(std::memory_order_relaxed) + 1;
  for (auto it = lists_.begin(); it != lists_.end();) {
    if (!keep.count(it->first)) {
      it = lists_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& t : keep) {
    auto it = lists_.find(t);
    if (it != lists_.end() && !clear) continue;
    auto list = std::make_shared<MdnsInstanceList>();
    list->type = t;
    list->version = v;
    if (it == lists_.end()) {
      lists_.emplace(t, std::move(list));
    } else {
      it->second = std::move(list);
    }
  }
  version_.store(v, std::memory_order_release);
}

std::string MdnsTable::dump() const {
  std::vector<std::string> lines;
  for (const auto& list : all()) {
    for (const auto& m : list->instances) {
      const mdns::Instance& i = m.instance;
      std::string line = list->type + " " + quote(i.name) + " host=" + i.host +
                         " port=" + std::to_string(i.port) + " interface=" + m.interface +
                         " addresses=" + join_addresses(i.addresses);
      if (m.self) line += " self";
      lines.push_back(std::move(line));
    }
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c > 0x7e) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

std::string join_addresses(const std::vector<mdns::IpAddress>& a) {
  std::string out;
  for (const auto& x : a) {
    if (!out.empty()) out += ',';
    out += x.to_string();
  }
  return out;
}

}  // namespace portico::modules
