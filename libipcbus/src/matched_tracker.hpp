// SPDX-License-Identifier: Apache-2.0
// A publisher's or subscriber's matched status: how many peers the topic's tables show,
// kept up to date by the daemon's "matched" events (sent whenever it changes a topic's
// reader roster or publisher table), with waiting and the user's callback on top.
//
// The count always comes from the topic's own tables, read when an event arrives: an
// event is only a nudge, so one that arrives late or twice does no harm, and a daemon
// restart (clients re-register; the tables stay as they were) reports no spurious
// departures and arrivals.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "ipcbus/matched.hpp"
#include "ipcbus/result.hpp"

namespace ipcbus::detail {

class DaemonClient;

class MatchedTracker : public std::enable_shared_from_this<MatchedTracker> {
  public:
    /// `peers`: what is counted, in words for errors ("subscriber", "publisher").
    MatchedTracker(std::string topic, const char* peers);

    /// The count the topic's tables show now. From an event handler (the client's lock
    /// held: it only posts the callback) or from the owner's setup. Wakes waiters.
    void update(std::size_t current, DaemonClient& client);

    /// The status, and the changes since the last read are reset. Thread-safe.
    MatchedStatus take_status();
    /// Matched now. Thread-safe.
    [[nodiscard]] std::size_t current() const;
    /// Waits until at least `count` are matched; ErrorCode::timeout, saying how many are,
    /// after `timeout`. Thread-safe.
    Result<std::size_t> wait_for(std::size_t count, std::chrono::milliseconds timeout) const;

    /// Replaces the callback (null: none). If changes are pending it is called soon with
    /// them. Thread-safe; once it returns the old callback is not running and will not run.
    void set_callback(MatchedCallback callback, DaemonClient& client);
    /// No callback runs once this returns (the owner is going away).
    void stop() noexcept;

  private:
    void post_callback(DaemonClient& client);
    void run_callback();

    const std::string topic_;
    const char* const peers_;
    mutable std::mutex mutex_;  // guards the counts
    mutable std::condition_variable changed_;
    std::size_t current_ = 0;
    std::ptrdiff_t current_change_ = 0;
    std::size_t total_ = 0;
    std::size_t total_change_ = 0;
    // Held while the callback runs, so that replacing it waits for a call in progress.
    std::mutex callback_mutex_;
    MatchedCallback callback_;
};

}  // namespace ipcbus::detail
