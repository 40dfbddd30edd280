// portico: command line entry point.
#include <cstdio>
#include <cstring>
#include <string>

#include "conf/loader.hpp"
#include "proxy/base/log.hpp"
#include "proxy/server/server.hpp"
#include "proxy/server/upgrade.hpp"
#include "proxy/tls/tls_set.hpp"

#ifndef PORTICO_VERSION
#define PORTICO_VERSION "unknown"
#endif

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "usage: portico [-t] -c FILE\n"
               "  -c, --config FILE   configuration file (YAML)\n"
               "  -t, --test          check the configuration and exit (0 = valid)\n"
               "  -v, --version       print the version and exit\n"
               "  -h, --help          print this help and exit\n"
               "environment: PORTICO_EVENT_LOOP=auto|io_uring|epoll overrides event_loop\n"
               "signals: SIGHUP reloads the configuration, SIGTERM/SIGINT drain and exit,\n"
               "         SIGUSR1 reopens the access log file,\n"
               "         SIGUSR2 starts the binary found on disk now and hands it the sockets\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Started by an upgrade (SIGUSR2): whatever stops us below is reported to the old process.
  portico::server::read_upgrade_environment();
  std::string config;
  bool test = false;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (!std::strcmp(a, "-c") || !std::strcmp(a, "--config")) {
      if (++i >= argc) {
        std::fprintf(stderr, "portico: %s needs a file\n", a);
        return 2;
      }
      config = argv[i];
    } else if (!std::strcmp(a, "-t") || !std::strcmp(a, "--test")) {
      test = true;
    } else if (!std::strcmp(a, "-v") || !std::strcmp(a, "--version")) {
      std::printf("portico %s\n", PORTICO_VERSION);
      return 0;
    } else if (!std::strcmp(a, "-h") || !std::strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "portico: unknown argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (config.empty()) {
    usage(stderr);
    return 2;
  }
  portico::conf::LoadResult r = portico::conf::load_config_file(config);
  if (!r.ok()) {
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    std::fprintf(stderr, "portico: configuration file %s test failed\n", config.c_str());
    std::string why = r.errors.empty() ? "configuration invalid" : r.errors[0].str();
    if (r.errors.size() > 1) why += " (and " + std::to_string(r.errors.size() - 1) + " more)";
    portico::server::report_failure(why);
    return 1;
  }
  // Certificates, keys and CA bundles are read and checked here too, so that
  // -t refuses what the server would refuse (the file is named).
  std::vector<std::string> tls_errors;
  if (!portico::tls::load_tls_set(*r.config, nullptr, &tls_errors)) {
    for (const auto& e : tls_errors) std::fprintf(stderr, "%s: %s\n", config.c_str(), e.c_str());
    std::fprintf(stderr, "portico: configuration file %s test failed\n", config.c_str());
    portico::server::report_failure(config + ": " + (tls_errors.empty() ? "tls" : tls_errors[0]));
    return 1;
  }
  if (test) {
    std::printf("portico: configuration file %s test is successful\n", config.c_str());
    return 0;
  }
  portico::server::Server server(config, std::vector<std::string>(argv, argv + argc));
  return server.run(r.config);
}
