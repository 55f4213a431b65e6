// Formatting and validating a topic segment in any memory (shared or heap). The checks
// here are what stands between a process and a hostile or damaged segment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
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

/// Typed access to a validated segment. Everything derives from checked offsets.
struct SegmentView {
    layout::TopicHeader* header = nullptr;
    layout::ReaderEntry* readers = nullptr;
    layout::SlotHeader* slots = nullptr;
    std::byte* payloads = nullptr;
    std::uint64_t mask = 0;
    std::uint64_t payload_stride = 0;
    std::uint64_t slot_size = 0;
    std::uint32_t max_readers = 0;
    bool reliable = false;  // DeliveryMode::reliable

    [[nodiscard]] layout::SlotHeader& slot(std::uint64_t seq) const noexcept {
        return slots[seq & mask];
    }
    [[nodiscard]] std::byte* payload(std::uint64_t seq) const noexcept {
        return payloads + (seq & mask) * payload_stride;
    }
};

/// The memory of a topic: its control segment (header, reader table) and its data
/// segment (slot headers, payloads).
struct SegmentMemory {
    std::span<std::byte> control;
    std::span<std::byte> data;
};

/// The geometry a new topic gets for `request` (defaults filled in), or why not.
Result<layout::Geometry> plan_segment(const TopicRequest& request);

/// Writes a fresh header into `memory` (control and data at least as large as the
/// geometry says, zeroed, page-aligned); the magic word is stored last.
void format_segment(const SegmentMemory& memory, const TopicRequest& request,
                    const layout::Geometry& geometry) noexcept;

/// Checks that `memory` holds a complete, consistent topic of the current layout and
/// returns a view of it. Never reads outside `memory`. `topic` names it in errors.
Result<SegmentView> validate_segment(const SegmentMemory& memory, std::string_view topic);

/// Checks that an existing, validated segment satisfies `request`: same topic name,
/// type and (where requested) parameters. The error names the first difference.
Result<Ok> check_compatible(const SegmentView& view, const TopicRequest& request);

}  // namespace ipcbus::detail
