#pragma once
// DNS resource records and messages as plain values, with rdata kept as uncompressed wire
// bytes, and the conversions to and from wire format (done by ldns). Free functions.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mdns/name.hpp"
#include "mdns/types.hpp"

namespace portico::mdns {

namespace rrtype {
inline constexpr uint16_t kA = 1, kPtr = 12, kTxt = 16, kAaaa = 28, kSrv = 33, kNsec = 47,
                          kAny = 255;
}
inline constexpr uint16_t kClassIn = 1;
inline constexpr uint16_t kClassAny = 255;
inline constexpr uint16_t kTopBit = 0x8000;  // cache-flush (records) / unicast-response (questions)

struct Record {
  Name name;
  uint16_t type = 0;
  uint16_t rrclass = kClassIn;  // without the cache-flush bit
  bool cache_flush = false;
  uint32_t ttl = 0;
  std::vector<uint8_t> rdata;  // uncompressed wire form
};

struct Question {
  Name name;
  uint16_t type = 0;
  uint16_t qclass = kClassIn;  // without the unicast-response bit
  bool unicast_response = false;
};

struct Message {
  uint16_t id = 0;
  bool qr = false;
  bool aa = false;
  bool tc = false;
  uint8_t opcode = 0;
  uint8_t rcode = 0;
  std::vector<Question> questions;
  std::vector<Record> answers;
  std::vector<Record> authority;
  std::vector<Record> additional;
};

// Parses a datagram with ldns (names in rdata are decompressed). nullopt when malformed.
std::optional<Message> decode(std::span<const uint8_t> bytes);
// Serialises with ldns (names compressed). Empty vector on failure.
std::vector<uint8_t> encode(const Message& m);

// Same owner, type, class and rdata (names compared case-insensitively).
bool same_record(const Record& a, const Record& b);
bool rdata_equal(uint16_t type, const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);
// RFC 6762 8.2 ordering: class (no flush bit), then type, then rdata bytes. <0, 0, >0.
int compare_for_tiebreak(const Record& a, const Record& b);

// rdata builders
std::vector<uint8_t> rdata_address(const IpAddress& a);
std::vector<uint8_t> rdata_name(const Name& n);  // PTR
std::vector<uint8_t> rdata_srv(uint16_t priority, uint16_t weight, uint16_t port, const Name& target);
std::vector<uint8_t> rdata_txt(const std::vector<std::string>& strings);  // [] -> one empty string
std::vector<uint8_t> rdata_nsec(const Name& next, std::vector<uint16_t> types);

// rdata parsers (nullopt when malformed)
struct Srv {
  uint16_t priority = 0, weight = 0, port = 0;
  Name target;
};
std::optional<Srv> parse_srv(const std::vector<uint8_t>& rdata);
std::optional<Name> parse_ptr(const std::vector<uint8_t>& rdata);
std::optional<std::vector<std::string>> parse_txt(const std::vector<uint8_t>& rdata);
std::optional<IpAddress> parse_address(uint16_t type, const std::vector<uint8_t>& rdata);

// TXT strings <-> entries ("key=value", "key")
std::vector<std::string> txt_strings(const std::vector<TxtEntry>& entries);
std::vector<TxtEntry> txt_entries(const std::vector<std::string>& strings);

}  // namespace portico::mdns
