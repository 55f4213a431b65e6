// SPDX-License-Identifier: Apache-2.0
// Subscribers read a topic's messages in place, in sequence order. Each Subscriber object
// is used by one thread at a time; any number of subscribers may read one topic.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "ipcbus/matched.hpp"
#include "ipcbus/node.hpp"
#include "ipcbus/result.hpp"
#include "ipcbus/sample.hpp"
#include "ipcbus/topic.hpp"
#include "ipcbus/type_info.hpp"

namespace ipcbus {

namespace detail {
struct SubscriberImpl;
struct PendingAttach;
class MatchedTracker;
enum class WaitOutcome : std::uint8_t;
}  // namespace detail

/// Why a receive failed. Hot-path error: no allocation. The offending message is consumed
/// (counted in lost()), so the next call moves on.
enum class ReceiveError : std::uint8_t {
    corrupt_slot,        // a slot's length exceeds the topic's slot size (a buggy writer)
    size_mismatch,       // a typed subscriber got a message whose size is not sizeof(T)
    buffer_too_small,    // take_copy's buffer is smaller than the topic's slot size (nothing
                         // is consumed); size it with max_payload_size()
    too_many_samples,    // a consumer-group member already holds 8 samples: release one
                         // (nothing is consumed)
    timed_out,           // receive(): nothing arrived within the timeout
    wait_failed,         // receive(): the kernel refused to sleep (futex_waitv needs Linux
                         // 5.16 for a WaitSet of several topics)
    incompatible_topic,  // the topic this subscriber waited for was created with another
                         // type or other parameters (RawSubscriber::attach_error() says
                         // which); it never attaches
};

/// How a subscriber waits in receive() and wait().
enum class WaitStrategy : std::uint8_t {
    busy_spin,        // polls without pause: the lowest latency, one core burnt while waiting
    spin_yield,       // polls, yielding the CPU between polls
    spin_then_block,  // polls for the spin budget, then sleeps on a futex: no CPU while idle
};

class WaitSet;
class Listener;

std::string_view to_string(ReceiveError error) noexcept;
std::ostream& operator<<(std::ostream& out, ReceiveError error);

/// Subscriber of raw bytes.
class RawSubscriber {
  public:
    /// Setup: attaches a reader to TOPIC. A reader starts with the next message published,
    /// or `reader.history` messages back; with `reader.group` it joins that consumer group.
    /// `type` any_type accepts whatever the topic carries. Thread-safe.
    ///
    /// Subscribers never create a topic: only a publisher fixes its type and parameters.
    /// If TOPIC does not exist yet, the subscriber waits for it (is_attached() is false,
    /// take() finds nothing, wait() and WaitSets wait); the daemon attaches it when a
    /// publisher creates the topic, before that publisher's first message, so a subscriber
    /// that was there first misses nothing. `type` and the non-zero fields of `options` are
    /// then checked against the topic; if they differ, take() and receive() fail with
    /// incompatible_topic and attach_error() says why.
    static Result<RawSubscriber> create(const Node& node, std::string_view topic,
                                        const TopicOptions& options = {},
                                        const TypeInfo& type = any_type,
                                        const ReaderOptions& reader = {});

    RawSubscriber(RawSubscriber&&) noexcept;
    RawSubscriber& operator=(RawSubscriber&&) noexcept;
    ~RawSubscriber();

    /// Hot path: the next message, read in place; std::nullopt when there is none yet.
    /// If the reader fell more than a ring behind, it first jumps to the oldest message
    /// still in the ring and adds the number skipped to lost(). In a consumer group, the
    /// next message of the group (a dead member's unfinished messages first: they may
    /// come out of order, and may have been seen by the dead member). One thread at a
    /// time.
    Expected<std::optional<RawSample>, ReceiveError> take() noexcept;

    /// Hot path: copies the next message into `buffer` (at least max_payload_size() bytes,
    /// else buffer_too_small) and returns its info; the copy is
    /// always a consistent message (a message overwritten mid-copy counts as lost and the
    /// next one is taken). One thread at a time.
    Expected<std::optional<SampleInfo>, ReceiveError> take_copy(
        std::span<std::byte> buffer) noexcept;

    /// Chooses how receive() and wait() wait (default: spin_then_block with a 20 µs
    /// spin). Same thread.
    void set_wait_strategy(WaitStrategy strategy, std::chrono::nanoseconds spin_budget =
                                                      std::chrono::microseconds(20)) noexcept;

    /// Waits until there is something to take (a message, or a skip or loss to pass over),
    /// at most `timeout`; true if there is. Same thread.
    [[nodiscard]] bool wait(std::chrono::nanoseconds timeout) noexcept;

    /// Blocking receive: the next message, waiting up to `timeout` (per the wait strategy)
    /// for one; timed_out if none came. Same thread.
    Expected<RawSample, ReceiveError> receive(std::chrono::nanoseconds timeout) noexcept;

    /// Blocking receive_copy: as take_copy(), waiting up to `timeout`. Same thread.
    Expected<SampleInfo, ReceiveError> receive_copy(std::span<std::byte> buffer,
                                                    std::chrono::nanoseconds timeout) noexcept;

    /// A file descriptor (eventfd) for epoll/poll/Boost.Asio that becomes readable when a
    /// message arrives. Read it (to reset it) before draining with take() until empty. A
    /// thread of the library watches the topic for it; owned by the subscriber.
    Result<int> notification_fd();

    /// Exact number of messages this reader missed because it was overrun (in a group:
    /// the group's losses this member noticed). Same thread.
    [[nodiscard]] std::uint64_t lost() const noexcept;
    /// Messages passed over because their publisher abandoned the loan. Same thread.
    [[nodiscard]] std::uint64_t skipped() const noexcept;
    /// Sequence number of the next message this reader expects. Same thread.
    [[nodiscard]] std::uint64_t next_sequence() const noexcept;
    /// Largest payload a message may have (the topic's slot size). Thread-safe.
    [[nodiscard]] std::size_t max_payload_size() const noexcept;
    /// The topic's name. Thread-safe.
    [[nodiscard]] std::string_view topic() const noexcept;
    /// The type the topic records (its name points into the topic's memory: valid as long
    /// as the subscriber). Thread-safe.
    [[nodiscard]] TypeInfo type() const noexcept;
    /// The topic's delivery mode. Thread-safe.
    [[nodiscard]] DeliveryMode mode() const noexcept;
    /// Whether the topic exists and this subscriber reads it. While waiting for a
    /// publisher to create the topic: false, and max_payload_size(), type() and mode()
    /// tell what was asked for (the slot size asked for or 0, the type, the mode or
    /// overwrite), which the topic must then have.
    /// Same thread.
    [[nodiscard]] bool is_attached() noexcept;
    /// Why the topic this subscriber waited for cannot be read (another type, other
    /// parameters, or the attach failed); std::nullopt if it is attached or still waiting.
    /// Same thread.
    [[nodiscard]] std::optional<Error> attach_error() const;

    /// Setup: publishers of the topic now, in any process (0 while waiting for the topic).
    /// Thread-safe.
    [[nodiscard]] std::size_t publisher_count() const;
    /// Setup: waits until at least `count` publishers are there and returns how many are;
    /// fails with ErrorCode::timeout, saying how many came, once `timeout` has passed.
    /// Sleeps until the daemon says one came (no polling). Thread-safe.
    Result<std::size_t> wait_for_publishers(std::size_t count,
                                            std::chrono::milliseconds timeout) const;
    /// Setup: the publishers matched now and how that changed since the last read (the
    /// changes are reset); see matched.hpp. Thread-safe.
    MatchedStatus matched_status();
    /// Setup: calls `callback` whenever publishers arrive or go away (also when their
    /// process is killed), and once soon if some are there already; null stops it. See
    /// matched.hpp for the thread it runs on and what it may do. Thread-safe, but not from
    /// the callback itself.
    void set_matched_callback(MatchedCallback callback);

  private:
    friend class WaitSet;
    explicit RawSubscriber(std::unique_ptr<detail::SubscriberImpl> impl) noexcept;
    explicit RawSubscriber(std::unique_ptr<detail::PendingAttach> pending) noexcept;
    // Takes over the reader the daemon attached while we waited; false while waiting.
    bool adopt_attached() noexcept;
    // wait() to a deadline (CLOCK_MONOTONIC ns), attaching on the way if the topic appears.
    detail::WaitOutcome wait_until(std::uint64_t deadline) noexcept;
    [[nodiscard]] detail::MatchedTracker& matched() const noexcept;
    // Null while waiting for the topic (then pending_ holds the request).
    std::unique_ptr<detail::SubscriberImpl> impl_;
    // Set if the topic did not exist at create(): kept for the subscriber's life (a
    // WaitSet refers to it, and its notification_fd stays the one handed out).
    std::unique_ptr<detail::PendingAttach> pending_;
};

/// Subscriber of one trivially copyable type T; opening a topic of another type fails.
template <Payload T>
class Subscriber {
  public:
    /// Setup: as RawSubscriber::create, for a topic carrying T.
    static Result<Subscriber> create(const Node& node, std::string_view topic,
                                     TopicOptions options = {}, const ReaderOptions& reader = {}) {
        if (options.slot_size != 0 && options.slot_size != sizeof(T)) {
            return Error{ErrorCode::invalid_argument,
                         "topic '" + std::string(topic) + "': slot_size must be 0 or sizeof(T)"};
        }
        options.slot_size = sizeof(T);
        auto raw = RawSubscriber::create(node, topic, options, type_info_of<T>(), reader);
        if (!raw) return std::move(raw).error();
        return Subscriber(std::move(raw).value());
    }

    /// Hot path: the next T, read in place. See RawSubscriber::take().
    Expected<std::optional<Sample<T>>, ReceiveError> take() noexcept {
        auto raw = raw_.take();
        if (!raw) return raw.error();
        if (!raw->has_value()) return std::optional<Sample<T>>{};
        if ((*raw)->info().size != sizeof(T)) return ReceiveError::size_mismatch;
        return std::optional<Sample<T>>(Sample<T>(std::move(**raw)));
    }

    /// Hot path: a consistent copy of the next T. See RawSubscriber::take_copy().
    Expected<std::optional<T>, ReceiveError> take_copy(SampleInfo* info = nullptr) noexcept {
        alignas(T) std::byte buffer[sizeof(T)];
        auto got = raw_.take_copy(buffer);
        if (!got) return got.error();
        if (!got->has_value()) return std::optional<T>{};
        if ((*got)->size != sizeof(T)) return ReceiveError::size_mismatch;
        if (info != nullptr) *info = **got;
        T value;
        std::memcpy(&value, buffer, sizeof(T));
        return std::optional<T>(value);
    }

    /// Blocking receive of the next T. See RawSubscriber::receive().
    Expected<Sample<T>, ReceiveError> receive(std::chrono::nanoseconds timeout) noexcept {
        auto raw = raw_.receive(timeout);
        if (!raw) return raw.error();
        if (raw->info().size != sizeof(T)) return ReceiveError::size_mismatch;
        return Sample<T>(std::move(*raw));
    }
    /// See RawSubscriber::wait().
    [[nodiscard]] bool wait(std::chrono::nanoseconds timeout) noexcept {
        return raw_.wait(timeout);
    }
    /// See RawSubscriber::set_wait_strategy().
    void set_wait_strategy(WaitStrategy strategy,
                           std::chrono::nanoseconds spin = std::chrono::microseconds(20)) noexcept {
        raw_.set_wait_strategy(strategy, spin);
    }
    /// See RawSubscriber::notification_fd().
    Result<int> notification_fd() { return raw_.notification_fd(); }
    /// The raw subscriber underneath (for a WaitSet or a Listener).
    [[nodiscard]] RawSubscriber& raw() noexcept { return raw_; }

    [[nodiscard]] std::uint64_t lost() const noexcept { return raw_.lost(); }
    [[nodiscard]] std::uint64_t skipped() const noexcept { return raw_.skipped(); }
    [[nodiscard]] std::uint64_t next_sequence() const noexcept { return raw_.next_sequence(); }
    [[nodiscard]] std::string_view topic() const noexcept { return raw_.topic(); }
    [[nodiscard]] std::size_t max_payload_size() const noexcept { return raw_.max_payload_size(); }
    [[nodiscard]] TypeInfo type() const noexcept { return raw_.type(); }
    [[nodiscard]] DeliveryMode mode() const noexcept { return raw_.mode(); }
    [[nodiscard]] bool is_attached() noexcept { return raw_.is_attached(); }
    [[nodiscard]] std::optional<Error> attach_error() const { return raw_.attach_error(); }
    [[nodiscard]] std::size_t publisher_count() const { return raw_.publisher_count(); }
    /// See RawSubscriber::wait_for_publishers().
    Result<std::size_t> wait_for_publishers(std::size_t count,
                                            std::chrono::milliseconds timeout) const {
        return raw_.wait_for_publishers(count, timeout);
    }
    /// See RawSubscriber::matched_status().
    MatchedStatus matched_status() { return raw_.matched_status(); }
    /// See RawSubscriber::set_matched_callback().
    void set_matched_callback(MatchedCallback callback) {
        raw_.set_matched_callback(std::move(callback));
    }

  private:
    explicit Subscriber(RawSubscriber raw) noexcept : raw_(std::move(raw)) {}
    RawSubscriber raw_;
};

}  // namespace ipcbus
