// SPDX-License-Identifier: Apache-2.0
// What the parts of the ring share (ring_writer.cpp, reader_set.cpp, pool_writer.cpp,
// ring_reader.cpp, group_reader.cpp, ring_cleanup.cpp): how a frame is classified and read,
// the stale stamp, and the batch sizes of readers' writes. Private to the library.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "ring.hpp"

namespace ipcbus::detail {

/// A busy word turned stale, naming sequence `seq` (readers pass it over; its owner's
/// commit fails).
constexpr std::uint64_t stale_stamp(std::uint64_t busy_word, std::uint64_t seq) noexcept {
    constexpr std::uint64_t owner_bits = static_cast<std::uint64_t>(layout::kMaxPublisherId)
                                         << layout::kLowBits;
    return layout::kBusyBit | layout::kStaleBit | (busy_word & owner_bits) |
           ((seq + 1) & layout::kLowMask);
}

/// Readers publish their position every this many messages, and always before they sleep.
inline std::uint64_t position_batch(const SegmentView& view) noexcept {
    return std::clamp<std::uint64_t>(view.capacity / 16, 1, 64);
}

/// Readers wake waiting publishers once per this many released frames (an eighth of the
/// ring) and whenever they run out of messages: a publisher woken for every single frame
/// would sleep again at once, and pay a system call per message.
inline std::uint64_t notify_batch(const SegmentView& view) noexcept {
    return view.capacity < 8 ? 1 : view.capacity / 8;
}

using layout::busy_lap_distance;
using layout::busy_owner;
using layout::busy_sequence;
using layout::busy_stamp;
using layout::is_busy;
using layout::is_stale;
using layout::kBusyBit;
using layout::kLowMask;
using layout::kNoSequence;
using layout::kSequenceMask;
using layout::kSkippedBit;
using layout::kStaleBit;
using layout::skipped_stamp;
using layout::stamp_of;

// What a reader finds at its frame for sequence `next`.
enum class Found : std::uint8_t { message, empty, skipped, lapped };

inline Found classify(std::uint64_t word, std::uint64_t next, std::uint64_t& seen) noexcept {
    if (is_busy(word)) {
        const std::int64_t distance = busy_lap_distance(word, next);
        if (distance > 0) {
            seen = next + static_cast<std::uint64_t>(distance);
            return Found::lapped;
        }
        if (distance == 0 && is_stale(word)) return Found::skipped;  // its writer stalled
        return Found::empty;  // being written (ours, or an older lap: ours is not yet)
    }
    const std::uint64_t found = word & kSequenceMask;
    if (found < stamp_of(next)) return Found::empty;
    if (found > stamp_of(next)) {
        seen = found - 1;
        return Found::lapped;
    }
    return (word & kSkippedBit) != 0 ? Found::skipped : Found::message;
}

// Fills `out` from a frame whose committed stamp `stamp` was just seen (acquire). False if
// the frame changed under us (overwrite mode) or its payload is gone (pool reuse); sets
// out.size beyond the slot size for a corrupt frame.
inline bool read_committed(const SegmentView& view, const layout::FrameHeader& frame,
                           std::uint64_t sequence, std::uint64_t stamp, Polled& out) noexcept {
    out.frame = &frame;
    out.stamp = stamp;
    out.sequence = sequence;
    // Relaxed: published by the stamp the caller loaded with acquire.
    out.size = frame.size.load(std::memory_order_relaxed);
    out.timestamp_ns = frame.timestamp_ns.load(std::memory_order_relaxed);
    out.publisher_id = frame.publisher_id.load(std::memory_order_relaxed);
    out.origin_sequence = frame.origin_sequence.load(std::memory_order_relaxed);
    out.buffer_state = nullptr;
    out.buffer_generation = 0;
    std::uint32_t buffer = 0;
    if (view.pooled()) {
        buffer = frame.buffer.load(std::memory_order_relaxed);
        out.buffer_generation = frame.buffer_generation.load(std::memory_order_relaxed);
    }
    if (!view.reliable) {
        // Acquire fence, then the re-check: the fields above are this message's.
        std::atomic_thread_fence(std::memory_order_acquire);
        if (frame.stamp.load(std::memory_order_relaxed) != stamp) return false;
    }
    if (out.size > view.slot_size) return true;  // corrupt: the caller says so
    if (view.pooled()) {
        if (buffer >= view.pool_buffers) {
            out.size = view.slot_size + 1;  // corrupt
            return true;
        }
        out.buffer_state = &view.pool[buffer].state;
        out.payload = view.buffer(buffer);
        // Overwrite mode: the buffer may have been reused since (a slow reader).
        if (!view.reliable && layout::buffer_generation(out.buffer_state->load(
                                  std::memory_order_acquire)) != out.buffer_generation) {
            return false;
        }
    } else {
        out.payload = view.inline_payload(sequence);
        // The rest of a small frame now, while we process its first line.
        for (std::uint64_t off = 64; off < out.size && off < 256; off += 64) {
            __builtin_prefetch(out.payload + off);
        }
    }
    return true;
}

}  // namespace ipcbus::detail
