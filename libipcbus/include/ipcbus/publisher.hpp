// SPDX-License-Identifier: Apache-2.0
// Publishers write messages into a topic's shared-memory ring. Several publishers, in any
// processes, may share a topic; each Publisher object is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "ipcbus/loan.hpp"
#include "ipcbus/matched.hpp"
#include "ipcbus/node.hpp"
#include "ipcbus/result.hpp"
#include "ipcbus/topic.hpp"
#include "ipcbus/type_info.hpp"

namespace ipcbus {

/// Publisher of raw bytes (messages of any length up to the slot size).
class RawPublisher {
  public:
    /// Setup: opens TOPIC in the node's domain, creating it with `options` if it does not
    /// exist. Fails with a clear Error on a bad name, a type or parameter mismatch, or a
    /// damaged segment. Thread-safe.
    static Result<RawPublisher> create(const Node& node, std::string_view topic,
                                       const TopicOptions& options = {},
                                       const TypeInfo& type = raw_bytes_type);

    RawPublisher(RawPublisher&&) noexcept;
    RawPublisher& operator=(RawPublisher&&) noexcept;
    ~RawPublisher();

    /// Hot path: a private buffer for a message of `size` bytes, to fill in place (see
    /// loan.hpp). Holding it delays no one. Inline topics: never blocks, no system call.
    /// Pool topics in reliable mode: when every pool buffer holds a message a reader still
    /// needs, it spins, then sleeps up to the block timeout, then fails with would_block.
    /// At most max_loans() loans at once (too_many_loans). No lock, no allocation.
    /// One thread at a time.
    Expected<RawLoan, LoanError> loan(std::size_t size) noexcept;

    /// Hot path: claims the next sequence, commits the loan's message and returns its
    /// sequence number. Reliable mode: when every frame holds a message a reader still
    /// needs, it spins, then sleeps up to the block timeout, then fails with would_block.
    /// Fails with expired if this thread stalled inside the call past the topic's unblock
    /// timeout. On failure the loan is left untouched and still yours: publish it again or
    /// drop it. A system call only to wake a sleeping reader (once per sleep) or to sleep.
    /// One thread at a time.
    Expected<std::uint64_t, LoanError> publish(RawLoan&& loan) noexcept;

    /// Hot path: copies `bytes` into the ring (or a pool buffer) and publishes it; returns
    /// the sequence number. Blocks and fails as loan() and publish() do. One thread at a
    /// time.
    Expected<std::uint64_t, LoanError> send(std::span<const std::byte> bytes) noexcept;

    /// Reliable mode: how long publish(), send() and pool loans wait for space before
    /// they fail with would_block. 0: fail at once; std::chrono::nanoseconds::max() (the
    /// default): wait for ever. Same thread as publish().
    void set_block_timeout(std::chrono::nanoseconds timeout) noexcept;
    /// Most loans this publisher may hold at once. Thread-safe.
    [[nodiscard]] std::size_t max_loans() const noexcept;
    /// The topic's delivery mode. Thread-safe.
    [[nodiscard]] DeliveryMode mode() const noexcept;

    /// Largest payload a message may have (the topic's slot size). Thread-safe.
    [[nodiscard]] std::size_t max_payload_size() const noexcept;
    /// The topic's name. Thread-safe.
    [[nodiscard]] std::string_view topic() const noexcept;
    /// This publisher's id within the topic, carried by every message it sends.
    [[nodiscard]] std::uint32_t id() const noexcept;
    /// Subscribers attached to the topic right now (scans the reader table). Thread-safe.
    [[nodiscard]] std::size_t subscriber_count() const noexcept;
    /// Setup (not for the hot path): waits until at least `count` subscribers are attached
    /// and returns how many are; fails with ErrorCode::timeout, saying how many came, once
    /// `timeout` has passed. A subscriber gets only what is published after it attached,
    /// so a publisher whose readers must see everything calls this first. Sleeps until
    /// the daemon says a subscriber came (no polling). Thread-safe.
    Result<std::size_t> wait_for_subscribers(std::size_t count,
                                             std::chrono::milliseconds timeout) const;
    /// Setup: the subscribers matched now and how that changed since the last read (the
    /// changes are reset); see matched.hpp. Thread-safe.
    MatchedStatus matched_status();
    /// Setup: calls `callback` whenever subscribers arrive or go away (also when their
    /// process is killed), and once soon if some are there already; null stops it. See
    /// matched.hpp for the thread it runs on and what it may do. Thread-safe, but not from
    /// the callback itself.
    void set_matched_callback(MatchedCallback callback);

  private:
    explicit RawPublisher(std::unique_ptr<detail::PublisherImpl> impl) noexcept;
    std::unique_ptr<detail::PublisherImpl> impl_;
};

/// Publisher of one trivially copyable type T; the topic records T's identity.
template <Payload T>
class Publisher {
  public:
    /// Setup: as RawPublisher::create, with the slot size fixed to sizeof(T).
    static Result<Publisher> create(const Node& node, std::string_view topic,
                                    TopicOptions options = {}) {
        if (options.slot_size != 0 && options.slot_size != sizeof(T)) {
            return Error{ErrorCode::invalid_argument,
                         "topic '" + std::string(topic) + "': slot_size must be 0 or sizeof(T)"};
        }
        options.slot_size = sizeof(T);
        auto raw = RawPublisher::create(node, topic, options, type_info_of<T>());
        if (!raw) return std::move(raw).error();
        return Publisher(std::move(raw).value());
    }

    /// Hot path: a slot holding a default-initialised T to fill in place.
    Expected<Loan<T>, LoanError> loan() noexcept {
        auto raw = raw_.loan(sizeof(T));
        if (!raw) return raw.error();
        return Loan<T>(std::move(raw).value());
    }
    /// Hot path: commits the loan; returns its sequence number. See RawPublisher::publish.
    Expected<std::uint64_t, LoanError> publish(Loan<T>&& loan) noexcept {
        return raw_.publish(std::move(loan.raw()));
    }
    /// Hot path: copies `value` into a slot and publishes it.
    Expected<std::uint64_t, LoanError> send(const T& value) noexcept {
        return raw_.send(std::as_bytes(std::span<const T, 1>(&value, 1)));
    }

    /// See RawPublisher::set_block_timeout().
    void set_block_timeout(std::chrono::nanoseconds timeout) noexcept {
        raw_.set_block_timeout(timeout);
    }
    [[nodiscard]] DeliveryMode mode() const noexcept { return raw_.mode(); }
    [[nodiscard]] std::string_view topic() const noexcept { return raw_.topic(); }
    [[nodiscard]] std::uint32_t id() const noexcept { return raw_.id(); }
    [[nodiscard]] std::size_t subscriber_count() const noexcept { return raw_.subscriber_count(); }
    /// See RawPublisher::wait_for_subscribers().
    Result<std::size_t> wait_for_subscribers(std::size_t count,
                                             std::chrono::milliseconds timeout) const {
        return raw_.wait_for_subscribers(count, timeout);
    }
    /// See RawPublisher::matched_status().
    MatchedStatus matched_status() { return raw_.matched_status(); }
    /// See RawPublisher::set_matched_callback().
    void set_matched_callback(MatchedCallback callback) {
        raw_.set_matched_callback(std::move(callback));
    }

  private:
    explicit Publisher(RawPublisher raw) noexcept : raw_(std::move(raw)) {}
    RawPublisher raw_;
};

}  // namespace ipcbus
