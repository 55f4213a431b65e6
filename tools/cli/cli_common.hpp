// SPDX-License-Identifier: Apache-2.0
// What every ipcbus command shares: how it fails, how it connects, how it stops on Ctrl-C.
#pragma once

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "ipcbus/node.hpp"
#include "ipcbus/result.hpp"

namespace ipcbus::cli {

/// A command's failure: main() prints "ipcbus: <what>" on stderr and exits with 1.
class CliError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// The value of a setup call, or a CliError carrying the library's message (which already
/// names the topic and the cause).
template <class T>
T unwrap(Result<T>&& result) {
    if (!result) throw CliError(result.error().message);
    return std::move(result).value();
}

/// What main() runs once the command line is parsed; returns the exit code.
using CommandAction = std::function<int()>;

/// Adds the --domain option every command takes.
void add_domain_option(CLI::App& command, std::string& domain);
/// Gives `domain` (a --domain before the command name) to every command that was not
/// given one of its own. Call after parsing.
void apply_global_domain(const std::string& domain);

/// Connects to the domain's daemon (starting one unless IPCBUS_NO_AUTOSTART=1).
Node connect(const std::string& domain);

/// Makes SIGINT and SIGTERM set a flag that long-running loops check, so they stop
/// cleanly: handles are closed and the daemon forgets them at once.
void install_stop_handler();
/// True once SIGINT or SIGTERM arrived. Async-signal-safe.
[[nodiscard]] bool stop_requested() noexcept;
/// The signal that asked us to stop, 0 if none.
[[nodiscard]] int stop_signal() noexcept;

using Clock = std::chrono::steady_clock;

/// Sleeps until `until`, in short slices so a stop request is seen within ~50 ms; false
/// if it was cut short by one. (The signal may be delivered to a library thread, so a
/// plain sleep would not be interrupted.)
bool sleep_until_or_stop(Clock::time_point until);

/// Waits, polling `condition` every `interval`, until it holds (true) or a stop is
/// requested (false).
bool poll_until(const std::function<bool()>& condition, std::chrono::microseconds interval);

/// CLOCK_MONOTONIC in nanoseconds: the clock ipcbus stamps messages with, so it compares
/// across processes.
[[nodiscard]] std::uint64_t monotonic_ns() noexcept;

/// "512 B", "4.0 KiB", "1.5 MiB": a byte count for people.
[[nodiscard]] std::string human_bytes(double bytes);

}  // namespace ipcbus::cli
