// SPDX-License-Identifier: Apache-2.0
// Waiting on many subscribers at once: a WaitSet tells one thread which subscribers have
// data; a Listener runs callbacks for them on a thread of its own.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>

#include "ipcbus/result.hpp"
#include "ipcbus/subscriber.hpp"

namespace ipcbus {

namespace detail {
struct WaitSetImpl;
struct ListenerImpl;
}  // namespace detail

/// Up to this many subscribers per WaitSet (one futex_waitv call, less the stop word).
inline constexpr std::size_t max_waitset_size = 127;

/// One thread waits on any number (up to max_waitset_size) of subscribers, possibly of
/// different topics, sleeping (no CPU) until one has data. Needs Linux 5.16+ (futex_waitv)
/// for subscribers of more than one topic. Used by one thread at a time, except notify().
class WaitSet {
  public:
    WaitSet();
    WaitSet(WaitSet&&) noexcept;
    WaitSet& operator=(WaitSet&&) noexcept;
    ~WaitSet();

    /// Adds a subscriber, which must outlive the WaitSet; returns its index in wait()'s
    /// answers. Not after notification_fd().
    Result<std::size_t> attach(RawSubscriber& subscriber);
    template <Payload T>
    Result<std::size_t> attach(Subscriber<T>& subscriber) {
        return attach(subscriber.raw());
    }

    /// Waits until some attached subscribers have something to take, at most `timeout`,
    /// or until notify(). Returns their indices (empty: timeout or notify), in an order
    /// that rotates from call to call so that no subscriber is always served last. The
    /// span lives until the next call. wait_failed if the kernel refused to sleep.
    Expected<std::span<const std::size_t>, ReceiveError> wait(
        std::chrono::nanoseconds timeout) noexcept;

    /// Makes a wait() in progress (or the next one) return at once. Any thread.
    void notify() noexcept;

    /// An eventfd that becomes readable when an attached subscriber gets a message (see
    /// RawSubscriber::notification_fd()).
    Result<int> notification_fd();

    [[nodiscard]] std::size_t size() const noexcept;

  private:
    std::unique_ptr<detail::WaitSetImpl> impl_;
};

/// Runs callbacks on a thread the library owns: "call this for every message on these
/// topics". Topics with data take turns (a batch of at most 16 messages each), so a busy
/// topic cannot starve a quiet one. Callbacks must not throw.
class Listener {
  public:
    Listener();
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    ~Listener();  // stop()

    /// Calls `callback` for every message of `subscriber` (which must outlive the
    /// Listener). Before start() only.
    Result<Ok> on(RawSubscriber& subscriber, std::function<void(const RawSample&)> callback);
    template <Payload T>
    Result<Ok> on(Subscriber<T>& subscriber, std::function<void(const Sample<T>&)> callback) {
        return add(subscriber.raw(), [&subscriber, cb = std::move(callback)]() -> bool {
            auto taken = subscriber.take();
            if (!taken) return true;  // a bad message was consumed; go on
            if (!taken->has_value()) return false;
            cb(**taken);
            return true;
        });
    }

    /// Starts the thread.
    Result<Ok> start();
    /// Stops the thread: when it returns, no callback is running or will run. Any thread
    /// (from a callback it only asks the thread to stop).
    void stop() noexcept;

  private:
    // `take_one` takes and handles one message; false when there was none.
    Result<Ok> add(RawSubscriber& subscriber, std::function<bool()> take_one);
    std::unique_ptr<detail::ListenerImpl> impl_;
};

}  // namespace ipcbus
