// SPDX-License-Identifier: Apache-2.0
// A TopicWatcher learns of topics whose names match a pattern, including topics created
// after it started: subscribe to "sensors/*/imu" and hear about every IMU that appears.
// Patterns: levels separated by '/', '*' matches exactly one level, '**' any number.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ipcbus/node.hpp"
#include "ipcbus/result.hpp"

namespace ipcbus {

namespace detail {
struct WatcherImpl;
}

class TopicWatcher {
  public:
    /// Setup: starts watching `pattern` in the node's domain (its own daemon connection).
    /// Fails with invalid_name for a malformed pattern. Thread-safe.
    static Result<TopicWatcher> create(const Node& node, std::string_view pattern);

    TopicWatcher(TopicWatcher&&) noexcept;
    TopicWatcher& operator=(TopicWatcher&&) noexcept;
    ~TopicWatcher();

    /// Names of matching topics not reported before: on the first call, those that existed
    /// when the watch started; then those created since. Never blocks. One thread at a time.
    Result<std::vector<std::string>> poll();

    /// As poll(), but waits up to `timeout` for at least one new name. One thread at a time.
    Result<std::vector<std::string>> wait(std::chrono::milliseconds timeout);

    /// A descriptor that becomes readable when news arrive (for epoll/poll loops).
    [[nodiscard]] int fd() const noexcept;

    [[nodiscard]] const std::string& pattern() const noexcept;

  private:
    explicit TopicWatcher(std::unique_ptr<detail::WatcherImpl> impl) noexcept;
    std::unique_ptr<detail::WatcherImpl> impl_;
};

}  // namespace ipcbus
