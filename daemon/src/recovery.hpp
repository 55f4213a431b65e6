// SPDX-License-Identifier: Apache-2.0
// The recovery window after a restart. A new daemon knows nothing of the topics its
// predecessor served until their holders re-register, and a publisher opening one of them
// first would create it anew: two segments, the running publisher's messages reaching no
// one who opens the topic now (split brain). So the daemon keeps the names of its topics
// in DIR/<domain>.topics (the socket directory: only the daemon's user writes there), and a
// successor, for a short window, answers "recovering" to opens that would create one of
// them; the client library retries. A name stops being awaited when its holders adopt it
// back, and all of them when the window ends (holders that are stopped or dead).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ipcbusd {

class TopicLedger {
  public:
    using Clock = std::chrono::steady_clock;

    /// Reads what the previous daemon served (awaited until `window` has passed) and keeps
    /// the file from now on. An empty `socket_dir`: no ledger, no window.
    void open(const std::string& socket_dir, const std::string& domain,
              std::chrono::milliseconds window);

    /// Whether an open that would create `topic` must wait for its old holders (counted).
    bool awaiting(std::string_view topic, Clock::time_point now);
    /// Its holders re-registered it.
    void adopted(std::string_view topic);
    struct Awaited {
        std::string topic;
        std::uint64_t deferred_opens;  // opens told to retry so far
    };
    /// The topics still awaited (empty once the window is over), for "list".
    std::vector<Awaited> awaited(Clock::time_point now) const;
    /// Milliseconds until the window closes (for the event loop's timeout); -1: closed.
    int ms_left(Clock::time_point now) const;
    /// Writes the current topics (and those still awaited) if they changed.
    void record(const std::vector<std::string>& current);

  private:
    void close_window_if_over(Clock::time_point now);

    std::string path_;
    std::map<std::string, std::uint64_t, std::less<>> awaited_;  // name: deferred opens
    Clock::time_point deadline_{};
    std::vector<std::string> written_;
};

}  // namespace ipcbusd
