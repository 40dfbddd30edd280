#pragma once
// Process-wide start-up steps run by the main thread before any worker starts:
// raise the open-file limit, and drop root privileges to `user:` once every
// socket is bound (supplementary groups, group, then user; no capability is
// kept). Not thread-safe; call only from main before threads exist.

#include <optional>
#include <string>

namespace portico::server {

// Raises RLIMIT_NOFILE's soft limit to the hard limit; logs the result.
void raise_fd_limit();

// Switches to `user` (and its primary and supplementary groups). Without
// `user` and running as root: a warning. Returns false with `err` on failure
// (unknown user, not permitted).
bool drop_privileges(const std::optional<std::string>& user, std::string& err);

}  // namespace portico::server
