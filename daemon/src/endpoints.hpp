// SPDX-License-Identifier: Apache-2.0
// The sockets a daemon serves its domain on: the abstract name (the default; anyone in
// the network namespace can reach it, and bind it while no daemon does), a socket file
// in a directory only the daemon's user can write (--socket-dir, e.g. /run/ipcbus: it
// cannot be impersonated and can be mounted into containers), or the sockets a service
// manager opened for it (socket activation: LISTEN_PID/LISTEN_FDS).
#pragma once

#include <string>
#include <vector>

#include "ipc/unique_fd.hpp"
#include "ipcbus/result.hpp"

namespace ipcbusd {

struct EndpointOptions {
    std::string domain;
    std::string socket_dir;     // bind DIR/<domain>.sock too; empty: no socket file
    bool abstract_name = true;  // bind the abstract name
};

class Endpoints {
  public:
    /// The sockets a service manager passed (if any), else those the options ask for.
    /// "another ipcbusd already serves domain ..." when one does.
    static ipcbus::Result<Endpoints> open(const EndpointOptions& options);

    Endpoints() = default;
    Endpoints(Endpoints&& other) noexcept;
    Endpoints& operator=(Endpoints&& other) noexcept;
    ~Endpoints();  // removes the socket file it created

    const std::vector<ipcbus::detail::UniqueFd>& listeners() const noexcept { return listeners_; }
    bool is_listener(int fd) const noexcept;
    /// "@ipcbus/D and /run/ipcbus/D.sock": for the log.
    std::string describe() const;

  private:
    ipcbus::Result<ipcbus::Ok> lock_domain(const EndpointOptions& options);
    ipcbus::Result<ipcbus::Ok> bind_socket_file(const EndpointOptions& options);

    std::vector<ipcbus::detail::UniqueFd> listeners_;
    std::vector<std::string> names_;
    ipcbus::detail::UniqueFd lock_;  // DIR/<domain>.lock, held while serving the file
    std::string socket_file_;        // unlinked at exit
};

}  // namespace ipcbusd
