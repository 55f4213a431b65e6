// Per-topic parameters, fixed by whoever creates the topic.
#pragma once

#include <cstdint>
#include <string_view>

namespace ipcbus {

/// How a topic treats a reader that falls behind. Chosen at creation.
enum class DeliveryMode : std::uint8_t {
    /// The publisher never waits; a reader more than a ring behind loses the oldest
    /// messages and learns exactly how many (Subscriber::lost()).
    overwrite = 0,
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
    DeliveryMode mode = DeliveryMode::overwrite;
};

inline constexpr std::uint32_t default_capacity = 1024;
inline constexpr std::uint32_t default_max_readers = 64;

}  // namespace ipcbus
