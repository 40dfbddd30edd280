#include "conf/types.hpp"
// Placeholder: replaced by the conf work.
namespace portico::conf {
std::optional<Duration> parse_duration(std::string_view) { return std::nullopt; }
std::optional<Size> parse_size(std::string_view) { return std::nullopt; }
uint16_t Address::port() const { return 0; }
std::string Address::str() const { return {}; }
bool Address::operator==(const Address&) const { return false; }
std::optional<Address> parse_address(std::string_view) { return std::nullopt; }
std::optional<Address> parse_ip_port(std::string_view, uint16_t) { return std::nullopt; }
bool Cidr::contains(const sockaddr*) const { return false; }
std::string Cidr::str() const { return {}; }
std::optional<Cidr> parse_cidr(std::string_view) { return std::nullopt; }
}  // namespace portico::conf
