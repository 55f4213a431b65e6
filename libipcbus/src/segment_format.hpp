// SPDX-License-Identifier: Apache-2.0
// Formatting and validating ipcbus shared memory in any memory (shared or heap): topic,
// reader, group and domain segments. The checks here are what stands between a process
// and a hostile or damaged segment. A topic segment is validated once; what the hot path
// needs of its header is copied into a SegmentView and never read from the segment again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ipcbus/result.hpp"
#include "ipcbus/topic.hpp"
#include "ipcbus/type_info.hpp"
#include "layout/segment_layout.hpp"

namespace ipcbus::detail {

/// What a process asks of a topic when it creates or opens it.
struct TopicRequest {
    std::string_view topic;
    TypeInfo type;
    TopicOptions options;
    ReaderOptions reader{};  // subscribers only; not a property of the topic
};

/// Everything about a new topic that plan_segment() derives from a request.
struct TopicPlan {
    layout::Geometry geometry;
    DeliveryMode mode;
    std::uint32_t history_depth;
    std::uint32_t max_pool_loans;
    std::uint64_t unblock_timeout_ns;
};

/// The identity of a validated topic: copies, safe to keep and to print.
struct TopicIdentity {
    std::string topic;
    std::string type_name;
    std::uint64_t type_size = 0;
    std::uint32_t type_align = 1;
    std::uint64_t schema_hash = 0;
    std::int32_t creator_pid = 0;
    std::uint64_t created_unix_ns = 0;

    [[nodiscard]] TypeInfo type() const noexcept {
        return TypeInfo{type_name, type_size, type_align, schema_hash};
    }
};

/// Typed access to a validated topic segment. Every pointer and number derives from
/// checked values copied at validation; the header is used only for its live lines.
struct SegmentView {
    layout::TopicHeader* header = nullptr;
    layout::PublisherEntry* publishers = nullptr;
    layout::RosterEntry* roster = nullptr;
    std::byte* frames = nullptr;
    layout::BufferHeader* pool = nullptr;
    std::byte* buffers = nullptr;
    std::uint64_t mask = 0;
    std::uint64_t capacity = 0;
    std::uint64_t slot_size = 0;
    std::uint64_t frame_stride = 0;
    std::uint64_t payload_offset = 0;  // of the inline payload within a frame
    std::uint64_t buffer_stride = 0;
    std::uint64_t unblock_timeout_ns = 0;
    std::uint32_t max_readers = 0;
    std::uint32_t max_publishers = 0;
    std::uint32_t pool_buffers = 0;
    std::uint32_t history_depth = 0;
    std::uint32_t max_pool_loans = 0;
    bool reliable = false;

    [[nodiscard]] layout::FrameHeader& frame(std::uint64_t seq) const noexcept {
        return *reinterpret_cast<layout::FrameHeader*>(frames + (seq & mask) * frame_stride);
    }
    [[nodiscard]] std::byte* inline_payload(std::uint64_t seq) const noexcept {
        return frames + (seq & mask) * frame_stride + payload_offset;
    }
    [[nodiscard]] std::byte* buffer(std::uint32_t index) const noexcept {
        return buffers + static_cast<std::uint64_t>(index) * buffer_stride;
    }
    [[nodiscard]] bool pooled() const noexcept { return pool_buffers != 0; }
    [[nodiscard]] DeliveryMode mode() const noexcept {
        return reliable ? DeliveryMode::reliable : DeliveryMode::overwrite;
    }
};

/// A topic segment that passed validation.
struct ValidatedTopic {
    SegmentView view;
    TopicIdentity identity;
};

/// The plan of a new topic for `request` (defaults filled in), or why not.
Result<TopicPlan> plan_segment(const TopicRequest& request);

/// Writes a fresh topic into `memory` (at least plan.geometry.segment_size bytes, zeroed,
/// page-aligned); the magic word is stored last.
void format_segment(std::span<std::byte> memory, const TopicRequest& request,
                    const TopicPlan& plan) noexcept;

/// Checks that `memory` holds a complete, consistent topic of the current layout and
/// returns a view of it. Never reads outside `memory`. `topic` names it in errors.
Result<ValidatedTopic> validate_segment(std::span<std::byte> memory, std::string_view topic);

/// Checks that a validated topic satisfies `request`: same type and (where requested)
/// parameters. The error names the first difference.
Result<Ok> check_compatible(const ValidatedTopic& topic, const TopicRequest& request);

/// Sets up a reader segment (a subscriber's own memory) for roster entry `index`.
void format_reader_segment(std::span<std::byte> memory, std::uint32_t index,
                           std::uint64_t generation, layout::RosterKind kind,
                           std::uint64_t start) noexcept;
/// Checks a reader segment handed to its subscriber: size, magic, version, roster entry.
Result<layout::ReaderRow*> validate_reader_segment(std::span<std::byte> memory,
                                                   std::string_view topic, std::uint32_t index);

/// Sets up a consumer group's segment for roster entry `index`, its cursor at `start`.
void format_group_segment(std::span<std::byte> memory, std::uint32_t index,
                          std::uint64_t generation, std::uint64_t start) noexcept;
Result<layout::GroupState*> validate_group_segment(std::span<std::byte> memory,
                                                   std::string_view topic, std::uint32_t index);

/// The domain segment (the daemon's clock).
void format_domain_segment(std::span<std::byte> memory) noexcept;
Result<const layout::DomainClock*> validate_domain_segment(std::span<const std::byte> memory);

}  // namespace ipcbus::detail
