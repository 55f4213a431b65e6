// Per-topic parameters, fixed by whoever creates the topic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ipcbus {

/// How a topic treats a reader that falls behind. Chosen at creation.
enum class DeliveryMode : std::uint8_t {
    /// The publisher never waits; a reader more than a ring behind loses the oldest
    /// messages and learns exactly how many (Subscriber::lost()).
    overwrite = 0,
    /// No message is ever overwritten before every reader (and every consumer group) has
    /// released it: a publisher facing a full ring waits (RawPublisher::set_block_timeout)
    /// or gets LoanError::would_block. A reader that dies stops holding it back.
    reliable = 1,
};

std::string_view to_string(DeliveryMode mode) noexcept;

/// Limits every topic obeys.
inline constexpr std::size_t max_topic_name_length = 127;
inline constexpr std::size_t max_type_name_length = 127;
inline constexpr std::size_t max_domain_name_length = 32;
inline constexpr std::uint32_t max_capacity = 1U << 24;
inline constexpr std::uint64_t max_slot_size = 1ULL << 30;
inline constexpr std::uint32_t max_readers_limit = 1024;

/// Parameters of a topic. The first process to open a topic creates it with these; a
/// later opener must agree on every non-zero field, or it gets parameter_mismatch.
struct TopicOptions {
    /// Number of slots in the ring, a power of two. 0: accept the topic's; a new topic
    /// gets 1024, or fewer for slots over 64 KiB (about 64 MiB per topic at most, 4 slots
    /// at least).
    std::uint32_t capacity = 0;
    /// Largest payload in bytes. 0: accept the topic's (sizeof(T) for a typed topic).
    std::uint64_t slot_size = 0;
    /// Most subscribers attached at once. 0: accept the topic's (64 if new).
    std::uint32_t max_readers = 0;
    /// std::nullopt: accept the topic's (overwrite if new).
    std::optional<DeliveryMode> mode{};
};

/// How one subscriber reads a topic (not a property of the topic).
struct ReaderOptions {
    /// Consumer group: readers joining with the same name share one cursor, and each
    /// message goes to exactly one of them (a work queue). Empty: a plain reader, which
    /// sees every message. Same character rules as a topic level, 1-64 characters.
    std::string group{};
    /// Start up to this many messages back (at most the ring's capacity), so a late
    /// joiner gets the latest state at once. 0: start with the next message published.
    /// For a group, applies only when the group is created by this reader.
    std::uint32_t history = 0;
};

inline constexpr std::size_t max_group_name_length = 64;

inline constexpr std::uint32_t default_capacity = 1024;
inline constexpr std::uint32_t default_max_readers = 64;

}  // namespace ipcbus
