// SPDX-License-Identifier: Apache-2.0
// Finding a domain's daemon and checking that it is one. Any local user can bind the
// abstract socket name of a domain whose daemon is down, and a client that re-registered
// with such an impostor would hand it a publisher's writable segment. So a client trusts
// the process behind the socket only if the kernel (SO_PEERCRED) says it runs as root, as
// the client's own user, or as a daemon user named by the installation or environment,
// and it never trusts a daemon that another user autostarted for its own processes.
#pragma once

#include <string>
#include <vector>

#include "ipc/unique_fd.hpp"
#include "ipcbus/result.hpp"

namespace ipcbus::detail {

/// Where a daemon serving every user keeps its socket files: DIR/<domain>.sock.
inline constexpr const char* kSystemSocketDir = "/run/ipcbus";

/// The directory clients use instead of the abstract name ($IPCBUS_SOCKET_DIR), or empty.
std::string socket_dir_from_environment();

/// The sockets a client tries, in order: with IPCBUS_SOCKET_DIR only DIR/<domain>.sock;
/// otherwise /run/ipcbus/<domain>.sock if it exists, then the abstract name.
std::vector<std::string> daemon_sockets(const std::string& domain);

/// Connects to the first socket that answers and verifies the daemon behind it.
/// daemon_unreachable if none answers; permission_denied, naming the daemon's uid and
/// how to trust it, if the one answering is not a daemon this process trusts; the
/// daemon's own error if it turned the connection away.
Result<UniqueFd> connect_to_daemon(const std::string& domain);

}  // namespace ipcbus::detail
