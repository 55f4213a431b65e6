// SPDX-License-Identifier: Apache-2.0
// ipcbusd: the discovery daemon of one bus domain. It keeps the topic registry, creates
// topic segments (memfd) and hands them to clients over its Unix socket, learns each
// client's pid/uid/gid from the kernel, enforces the access policy, and cleans up the
// moment a client's connection closes: its reader rows are freed, the slots it held
// mid-write are marked skipped, and topics nobody uses any more are dropped.
//
// The data path never goes through the daemon: once mapped, a topic works without it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "ipcbus/result.hpp"
#include "ipcbusd/access_policy.hpp"

namespace ipcbusd {

struct DaemonOptions {
    std::string domain = "default";
    AccessPolicy policy;
    /// Exit after this long with no clients and no topics; zero: never.
    std::chrono::milliseconds idle_exit{0};
    /// Also serve DIR/<domain>.sock (e.g. /run/ipcbus); empty: the abstract name only.
    std::string socket_dir;
    /// Serve the abstract name @ipcbus/<domain> (off: the socket file only).
    bool abstract_name = true;
    /// After a restart (the socket directory's ledger lists topics), how long opens that
    /// would create one of the previous daemon's topics wait for its holders to re-register.
    std::chrono::milliseconds recovery_window{1500};
    /// Started by a client library: said in "hello", so that other users refuse it.
    bool autostarted = false;
};

class Daemon {
  public:
    /// Binds the domain's socket. Fails (naming the domain) if another daemon serves it.
    static ipcbus::Result<std::unique_ptr<Daemon>> create(DaemonOptions options);

    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    /// Serves clients until stop() or the idle timeout. Returns the process exit code.
    int run();

    /// Asks run() to return. Async-signal-safe; callable from any thread.
    void stop() noexcept;

    struct State;  // the registry, kept out of this header

  private:
    explicit Daemon(std::unique_ptr<State> state) noexcept;
    std::unique_ptr<State> state_;
};

}  // namespace ipcbusd
