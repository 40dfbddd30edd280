#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proxy/http/router.hpp"

using namespace portico;
using namespace portico::http;

namespace {

conf::Route route(conf::RouteMatch m) {
  conf::Route r;
  r.match = std::move(m);
  r.cluster = "c";
  return r;
}

Router compile(const std::vector<conf::Route>& routes) {
  std::string error;
  auto r = Router::compile(routes, &error);
  REQUIRE_MESSAGE(r.has_value(), error);
  return std::move(*r);
}

std::optional<size_t> match(const Router& r, std::string_view host, std::string_view path,
                            std::string_view method = "GET",
                            std::vector<HeaderField> headers = {}) {
  return r.match(RouteInput{host, path, method, headers});
}

}  // namespace

TEST_CASE("first match wins and no match is nullopt") {
  conf::RouteMatch a;
  a.path_prefix = "/api/";
  conf::RouteMatch b;
  b.path_prefix = "/";
  Router r = compile({route(a), route(b)});
  CHECK(match(r, "h", "/api/x") == 0u);
  CHECK(match(r, "h", "/other") == 1u);
  Router only_api = compile({route(a)});
  CHECK_FALSE(match(only_api, "h", "/other"));
  Router empty = compile({});
  CHECK_FALSE(match(empty, "h", "/"));
  Router any = compile({route({})});
  CHECK(match(any, "", "/anything") == 0u);
}

TEST_CASE("host: exact, case-insensitive, port and brackets stripped") {
  conf::RouteMatch m;
  m.host = "Api.Example.test";
  conf::RouteMatch v6;
  v6.host = "[::1]";
  Router r = compile({route(m), route(v6)});
  CHECK(match(r, "api.example.test", "/") == 0u);
  CHECK(match(r, "API.EXAMPLE.TEST:8080", "/") == 0u);
  CHECK(match(r, "api.example.test.", "/") == 0u);
  CHECK_FALSE(match(r, "x.api.example.test", "/"));
  CHECK_FALSE(match(r, "api.example.test.evil", "/"));
  CHECK(match(r, "[::1]:8080", "/") == 1u);
  CHECK(match(r, "[::1]", "/") == 1u);
  CHECK_FALSE(match(r, "[::2]:8080", "/"));
  CHECK(strip_host_port("[::1]:8080") == "::1");
  CHECK(strip_host_port("a.test:80") == "a.test");
  CHECK(strip_host_port("[::1") == "[::1");
}

TEST_CASE("host wildcard *.example.com matches subdomains only") {
  conf::RouteMatch m;
  m.host = "*.example.com";
  Router r = compile({route(m)});
  CHECK(match(r, "a.example.com", "/") == 0u);
  CHECK(match(r, "A.B.Example.COM:443", "/") == 0u);
  CHECK_FALSE(match(r, "example.com", "/"));
  CHECK_FALSE(match(r, ".example.com", "/"));
  CHECK_FALSE(match(r, "aexample.com", "/"));
  CHECK_FALSE(match(r, "a.example.com.evil", "/"));
}

TEST_CASE("path exact, prefix and regex") {
  conf::RouteMatch exact;
  exact.path = "/health";
  conf::RouteMatch prefix;
  prefix.path_prefix = "/static/";
  conf::RouteMatch re;
  re.path_regex = "/users/[0-9]+";
  Router r = compile({route(exact), route(prefix), route(re)});
  CHECK(match(r, "h", "/health") == 0u);
  CHECK_FALSE(match(r, "h", "/health/"));
  CHECK_FALSE(match(r, "h", "/healthz"));
  CHECK(match(r, "h", "/static/a.css") == 1u);
  CHECK_FALSE(match(r, "h", "/static"));
  CHECK(match(r, "h", "/users/42") == 2u);
  CHECK_FALSE(match(r, "h", "/users/42/x"));  // whole-path match
  CHECK_FALSE(match(r, "h", "/x/users/42"));
}

TEST_CASE("regex matching stays linear on a long hostile path") {
  conf::RouteMatch re;
  re.path_regex = "(a|aa)*b";
  Router r = compile({route(re)});
  std::string path(8000, 'a');
  CHECK_FALSE(match(r, "h", path));
  CHECK(match(r, "h", path + "b") == 0u);
}

TEST_CASE("bad regexes and backreferences are refused at compile time") {
  conf::RouteMatch bad;
  bad.path_regex = "(unclosed";
  std::string error;
  CHECK_FALSE(Router::compile({route(bad)}, &error));
  CHECK(error.find("route 0") != std::string::npos);
  conf::RouteMatch backref;
  backref.path_regex = "/(a)\\1";
  CHECK_FALSE(Router::compile({route(backref)}, &error));
}

TEST_CASE("method lists and header matches") {
  conf::RouteMatch m;
  m.methods = {"GET", "HEAD"};
  m.headers = {{"X-Canary", "1"}};
  conf::RouteMatch fallback;
  Router r = compile({route(m), route(fallback)});
  CHECK(match(r, "h", "/", "GET", {{"x-canary", "1"}}) == 0u);
  CHECK(match(r, "h", "/", "HEAD", {{"Other", "z"}, {"X-CANARY", "1"}}) == 0u);
  CHECK(match(r, "h", "/", "get", {{"x-canary", "1"}}) == 1u);  // methods are case-sensitive
  CHECK(match(r, "h", "/", "POST", {{"x-canary", "1"}}) == 1u);
  CHECK(match(r, "h", "/", "GET", {{"x-canary", "2"}}) == 1u);
  CHECK(match(r, "h", "/", "GET", {}) == 1u);
}

TEST_CASE("all conditions of a route must hold") {
  conf::RouteMatch m;
  m.host = "a.test";
  m.path_prefix = "/v1/";
  m.methods = {"POST"};
  Router r = compile({route(m)});
  CHECK(match(r, "a.test", "/v1/x", "POST") == 0u);
  CHECK_FALSE(match(r, "b.test", "/v1/x", "POST"));
  CHECK_FALSE(match(r, "a.test", "/v2/x", "POST"));
  CHECK_FALSE(match(r, "a.test", "/v1/x", "GET"));
}

TEST_CASE("path prefix rewrite") {
  char buf[64];
  auto rw = [&](std::string_view path, std::string_view query, std::string_view prefix,
                std::string_view repl) {
    auto r = rewrite_path_prefix(path, query, prefix, repl, buf);
    return r ? std::string(*r) : std::string("<none>");
  };
  CHECK(rw("/v1/users", "", "/v1/", "/") == "/users");
  CHECK(rw("/v1/users", "a=1", "/v1/", "/api/") == "/api/users?a=1");
  CHECK(rw("/v1", "", "/v1", "") == "/");
  CHECK(rw("/v1/x", "", "/v1", "/") == "/x");
  CHECK(rw("/v1/x", "", "/v1/", "") == "/x");
  CHECK(rw("/v2/x", "", "/v1/", "/") == "<none>");
  CHECK_FALSE(rewrite_path_prefix("/v1/" + std::string(100, 'a'), "", "/v1/", "/", buf));
}
