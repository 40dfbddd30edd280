#pragma once
// Every TLS setting of one config generation, loaded and checked on the main
// thread (portico -t, start-up, SIGHUP reload): a ServerConfig per listener
// with `tls`, a ClientConfig per cluster with `tls`, and the listeners'
// session-ticket keys. Immutable once built and shared read-only by the
// workers, which build their own ServerContext/ClientContext from it.

#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "proxy/tls/client_context.hpp"
#include "proxy/tls/server_context.hpp"
#include "proxy/tls/ticket_keys.hpp"

namespace portico::tls {

struct TlsSet {
  // Aligned with config.listeners (null: no tls on that listener).
  std::vector<std::shared_ptr<const ServerConfig>> listeners;
  std::vector<std::shared_ptr<TicketKeys>> ticket_keys;
  // Aligned with config.clusters (null: plain-text upstream).
  std::vector<std::shared_ptr<const ClientConfig>> clusters;
};

// Ticket keys by listener name, kept by the main thread across reloads so
// tickets issued before a reload still resume after it.
using TicketKeyMap = std::map<std::string, std::shared_ptr<TicketKeys>>;

// Loads every certificate, key and CA file the config names. On failure
// returns nullptr and one message per problem in *errors, each naming the
// config path and the file. `keys` (may be null, e.g. for `portico -t`)
// supplies and receives the per-listener ticket keys.
std::shared_ptr<const TlsSet> load_tls_set(const conf::Config& c, TicketKeyMap* keys,
                                           std::vector<std::string>* errors,
                                           time_t now = std::time(nullptr));

}  // namespace portico::tls
