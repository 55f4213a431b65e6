// SPDX-License-Identifier: Apache-2.0
// Per-topic parameters, fixed by the publisher that creates the topic (subscribers never
// create one; they wait for it).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ipcbus/result.hpp"

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

/// Whether NAME may name a topic; the error says why not ("topic '../x': invalid name:
/// '.' or '..' level"). Levels of letters, digits, '_', '-' and '.', separated by '/', at
/// most max_topic_name_length characters. Thread-safe.
Result<Ok> check_topic_name(std::string_view name);

/// Limits every topic obeys.
inline constexpr std::size_t max_topic_name_length = 127;
inline constexpr std::size_t max_type_name_length = 127;
inline constexpr std::size_t max_domain_name_length = 32;
inline constexpr std::uint32_t max_capacity = 1U << 24;
inline constexpr std::uint64_t max_slot_size = 1ULL << 30;
inline constexpr std::uint32_t max_readers_limit = 1024;
inline constexpr std::uint32_t max_publishers_limit = 256;

/// Parameters of a topic. The first publisher to open a topic creates it with these; every
/// other opener (and a subscriber that waited for the topic) must agree on every non-zero
/// field, or it gets parameter_mismatch.
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
    /// Most publishers attached at once. 0: accept the topic's (16 if new).
    std::uint32_t max_publishers = 0;
    /// The newest messages the topic keeps for late joiners (ReaderOptions::history),
    /// like a DDS writer's history depth. Reliable mode: they stay in the ring even after
    /// every reader has released them, so a publisher blocks once capacity minus this many
    /// messages are unreleased; a late joiner gets at most this many. Pool topics: the
    /// newest this many buffers are not reused. At most half the capacity. std::nullopt:
    /// accept the topic's (1 if new). Overwrite mode with inline payloads ignores it: a
    /// late joiner gets whatever the ring still holds.
    std::optional<std::uint32_t> history_depth{};
    /// Creation only (not compared when opening): payloads larger than this many bytes
    /// live in a pool of buffers that loans hand out directly (zero-copy, most recently
    /// freed first, so they are warm in cache); smaller ones are built in a private buffer
    /// of the publisher and copied into the ring at publish, which costs less than the
    /// cache miss a shared buffer would. 0: default_pool_threshold.
    std::uint64_t pool_threshold = 0;
    /// Creation only: a claimed sequence whose publisher has not committed it after this
    /// long (the process is stopped, or starved of CPU, or died) is passed over by readers,
    /// so no one waits for it longer; the late publisher's publish() then fails with
    /// LoanError::expired. 0: default_unblock_timeout.
    std::chrono::milliseconds unblock_timeout{0};
};

/// Payload size from which a new topic keeps its payloads in a buffer pool (see
/// TopicOptions::pool_threshold; bench/README.md has the measurement behind it).
inline constexpr std::uint64_t default_pool_threshold = 64 * 1024;
inline constexpr std::chrono::milliseconds default_unblock_timeout{100};
inline constexpr std::uint32_t default_max_publishers = 16;

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
