// SPDX-License-Identifier: Apache-2.0
#include "matched_tracker.hpp"

#include <utility>

#include "daemon_client.hpp"

namespace ipcbus::detail {

MatchedTracker::MatchedTracker(std::string topic, const char* peers)
    : topic_(std::move(topic)), peers_(peers) {}

void MatchedTracker::update(std::size_t current, DaemonClient& client) {
    {
        std::lock_guard lock(mutex_);
        if (current == current_) return;
        if (current > current_) {
            total_ += current - current_;
            total_change_ += current - current_;
        }
        current_change_ +=
            static_cast<std::ptrdiff_t>(current) - static_cast<std::ptrdiff_t>(current_);
        current_ = current;
    }
    changed_.notify_all();
    post_callback(client);
}

MatchedStatus MatchedTracker::take_status() {
    std::lock_guard lock(mutex_);
    const MatchedStatus status{current_, current_change_, total_, total_change_};
    current_change_ = 0;
    total_change_ = 0;
    return status;
}

std::size_t MatchedTracker::current() const {
    std::lock_guard lock(mutex_);
    return current_;
}

Result<std::size_t> MatchedTracker::wait_for(std::size_t count,
                                             std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    if (changed_.wait_for(lock, timeout, [&] { return current_ >= count; })) return current_;
    return Error{ErrorCode::timeout, "topic '" + topic_ + "': " + std::to_string(current_) +
                                         " of " + std::to_string(count) + " " + peers_ +
                                         "(s) attached after " + std::to_string(timeout.count()) +
                                         " ms"};
}

void MatchedTracker::set_callback(MatchedCallback callback, DaemonClient& client) {
    {
        std::lock_guard lock(callback_mutex_);
        callback_ = std::move(callback);
    }
    // Peers that were there before the callback (or matched since the last read): the
    // callback hears of them as it would of any change.
    post_callback(client);
}

void MatchedTracker::stop() noexcept {
    std::lock_guard lock(callback_mutex_);
    callback_ = nullptr;
}

// Never runs the callback here: the caller may hold the client's lock (an event handler),
// or be the callback itself creating something. The client's watcher thread runs it.
void MatchedTracker::post_callback(DaemonClient& client) {
    client.post([weak = weak_from_this()] {
        if (const auto self = weak.lock()) self->run_callback();
    });
}

void MatchedTracker::run_callback() {
    std::lock_guard lock(callback_mutex_);
    if (!callback_) return;
    const MatchedStatus status = take_status();
    if (status.current_change == 0 && status.total_change == 0) return;  // already read
    callback_(status);
}

}  // namespace ipcbus::detail
