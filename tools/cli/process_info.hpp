// SPDX-License-Identifier: Apache-2.0
// What /proc says about a process the daemon names by pid: its name, owner and state, so
// `ipcbus info` can say "reader pid 4242 (strategy, stopped)" instead of a bare number.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace ipcbus::cli {

struct ProcessInfo {
    std::string name;          // /proc/PID/comm; "?" when unknown
    std::optional<uid_t> uid;  // real uid
    std::string state;         // "running", "sleeping", "stopped", "zombie", ... or "gone"
};

/// Reads /proc/PID. A pid that is not there (it exited, or lives in another pid namespace:
/// the daemon reports pids as its own namespace sees them) gives name "?" and state "gone".
[[nodiscard]] ProcessInfo describe_process(pid_t pid);

}  // namespace ipcbus::cli
