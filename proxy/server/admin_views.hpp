#pragma once
// The admin endpoint's documents: Prometheus text exposition of the summed
// per-worker counters, the clusters view and the redacted running config
// (JSON). Pure functions of AdminShared / Config; called on worker 0.

#include <string>

#include "conf/config.hpp"
#include "proxy/server/admin.hpp"

namespace portico::server {

std::string render_metrics(const AdminShared& s);
std::string render_clusters(const AdminShared& s);
// Secrets (private key paths, the admin token, signing keys) are replaced by "<redacted>".
std::string render_config(const conf::Config& c);

// Helpers, exposed for unit tests.
std::string prom_label_escape(std::string_view v);  // \\, \" and \n escaped
std::string json_escape(std::string_view v);        // with the quotes

}  // namespace portico::server
