// Subscribers read a topic's messages in place, in sequence order. Each Subscriber object
// is used by one thread at a time; any number of subscribers may read one topic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "ipcbus/node.hpp"
#include "ipcbus/result.hpp"
#include "ipcbus/sample.hpp"
#include "ipcbus/topic.hpp"
#include "ipcbus/type_info.hpp"

namespace ipcbus {

namespace detail {
struct SubscriberImpl;
}

/// Why a receive failed. Hot-path error: no allocation. The offending message is consumed
/// (counted in lost()), so the next call moves on.
enum class ReceiveError : std::uint8_t {
    corrupt_slot,      // a slot's length exceeds the topic's slot size (a buggy writer)
    size_mismatch,     // a typed subscriber got a message whose size is not sizeof(T)
    buffer_too_small,  // take_copy's buffer is smaller than the topic's slot size (nothing
                       // is consumed); size it with max_payload_size()
    too_many_samples,  // a consumer-group member already holds 8 samples: release one
                       // (nothing is consumed)
};

std::string_view to_string(ReceiveError error) noexcept;

/// Subscriber of raw bytes.
class RawSubscriber {
  public:
    /// Setup: attaches a reader to TOPIC, creating the topic with `options` if it does not
    /// exist yet. A reader starts with the next message published, or `reader.history`
    /// messages back; with `reader.group` it joins that consumer group. `type` any_type
    /// accepts whatever the topic carries. Thread-safe.
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

  private:
    explicit RawSubscriber(std::unique_ptr<detail::SubscriberImpl> impl) noexcept;
    std::unique_ptr<detail::SubscriberImpl> impl_;
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

    [[nodiscard]] std::uint64_t lost() const noexcept { return raw_.lost(); }
    [[nodiscard]] std::uint64_t skipped() const noexcept { return raw_.skipped(); }
    [[nodiscard]] std::uint64_t next_sequence() const noexcept { return raw_.next_sequence(); }
    [[nodiscard]] std::string_view topic() const noexcept { return raw_.topic(); }

  private:
    explicit Subscriber(RawSubscriber raw) noexcept : raw_(std::move(raw)) {}
    RawSubscriber raw_;
};

}  // namespace ipcbus
