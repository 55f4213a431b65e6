// SPDX-License-Identifier: Apache-2.0
// Reading as a plain reader: polling frames in sequence order, loss counting, batched
// positions, held samples, and waking publishers that wait for space.
#include "ring.hpp"

#include <algorithm>
#include <climits>

#include "ipc/futex.hpp"

#include "ring_internal.hpp"

namespace ipcbus::detail {

bool overwritten(const Polled& message) noexcept {
    // Acquire fence: the payload reads made before it are ordered before the re-loads
    // (the seqlock reader's second check; pairs with the writer's release fence after its
    // busy mark, or with the full barrier of the CAS that took the buffer).
    std::atomic_thread_fence(std::memory_order_acquire);
    if (message.buffer_state != nullptr) {
        return layout::buffer_generation(message.buffer_state->load(std::memory_order_relaxed)) !=
               message.buffer_generation;
    }
    return message.frame->stamp.load(std::memory_order_relaxed) != message.stamp;
}

RingReader::RingReader(const SegmentView& view, layout::ReaderRow* row,
                       std::uint64_t start) noexcept
    : view_(view), row_(row), next_(start), batch_(position_batch(view)), position_(start) {}

PollStatus RingReader::poll(Polled& out) noexcept {
    // Each pass either returns or moves next_ forward (skip, overrun); the bound keeps a
    // reader that is lapped over and over by a much faster publisher from spinning here.
    for (int pass = 0; pass < 64; ++pass) {
        const layout::FrameHeader& frame = view_.frame(next_);
        // Acquire: pairs with the publisher's release store (or CAS) of the stamp.
        const std::uint64_t word = frame.stamp.load(std::memory_order_acquire);
        std::uint64_t seen = 0;
        switch (classify(word, next_, seen)) {
            case Found::empty:
                return PollStatus::empty;
            case Found::lapped:
                jump_after_overrun(seen);
                continue;
            case Found::skipped:
                ++skipped_;
                advance();
                continue;
            case Found::message:
                break;
        }
        if (!read_committed(view_, frame, next_, word, out)) {
            // Overwritten while we looked (the next pass sees the later lap), or its pool
            // buffer is already reused: the message is lost to us.
            if (view_.pooled() && frame.stamp.load(std::memory_order_acquire) == word) {
                count_lost(1);
                advance();
            }
            continue;
        }
        advance();
        if (out.size > view_.slot_size) {
            count_lost(1);
            return PollStatus::corrupt;
        }
        ++received_;
        return PollStatus::message;
    }
    return PollStatus::empty;
}

void RingReader::count_lost(std::uint64_t n) noexcept {
    lost_ += n;
}

void RingReader::jump_after_overrun(std::uint64_t seen) noexcept {
    // We saw sequence `seen`, a lap or more ahead of us, in our frame. The ring holds at
    // most `capacity` sequences ending at the newest claimed: jump to the oldest of them.
    // Acquire: the cursor may lag `seen` (a lone publisher moves it after the commit).
    const std::uint64_t cursor = view_.header->write_cursor.load(std::memory_order_acquire);
    const std::uint64_t newest = std::max(cursor, seen + 1);
    const std::uint64_t oldest = newest > view_.capacity ? newest - view_.capacity : 0;
    const std::uint64_t to = std::max(oldest, next_ + 1);  // always forward
    count_lost(to - next_);
    next_ = to;
    // Relaxed: a process-local mirror for readiness checks.
    position_.store(next_, std::memory_order_relaxed);
    publish_position();
}

void RingReader::advance() noexcept {
    ++next_;
    position_.store(next_, std::memory_order_relaxed);
    if (++unpublished_ >= batch_) publish_position();
}

void RingReader::publish_position() noexcept {
    unpublished_ = 0;
    if (row_ == nullptr) return;
    // Release: observers and the pool see our progress with the reads before it.
    row_->position.store(next_, std::memory_order_release);
    // Relaxed: statistics for observers.
    row_->lost.store(lost_, std::memory_order_relaxed);
    row_->skipped.store(skipped_, std::memory_order_relaxed);
    row_->received.store(received_, std::memory_order_relaxed);
}

HeldSet::HeldSet(const SegmentView& view, layout::ReaderRow* row, std::uint64_t start)
    : view_(view),
      row_(row),
      bits_((view.capacity + 63) / 64, 0),
      released_(start),
      published_(start),
      notified_(start),
      next_(start),
      batch_(position_batch(view)) {}

void HeldSet::hold(std::uint64_t sequence) noexcept {
    // Nothing older held, but skipped or lost sequences lie between: the sample now held
    // is the oldest, so release() must find it at released_.
    if (count_ == 0 && released_ != sequence) publish(sequence, false);
    bits_[(sequence & view_.mask) / 64] |= 1ULL << (sequence % 64);
    ++count_;
    // Relaxed: statistics for observers.
    if (row_ != nullptr) row_->held.store(count_, std::memory_order_relaxed);
    next_ = sequence + 1;
}

void HeldSet::release(std::uint64_t sequence) noexcept {
    bits_[(sequence & view_.mask) / 64] &= ~(1ULL << (sequence % 64));
    --count_;
    if (row_ != nullptr) row_->held.store(count_, std::memory_order_relaxed);
    if (sequence != released_) return;  // an older sample is still held
    std::uint64_t oldest = sequence + 1;
    while (oldest < next_ && !held(oldest)) ++oldest;
    publish(oldest, false);
}

void HeldSet::catch_up(std::uint64_t next) noexcept {
    if (next > next_) next_ = next;
    if (count_ == 0 && next_ != released_) publish(next_, false);
}

void HeldSet::idle() noexcept {
    publish(released_, true);
}

void HeldSet::publish(std::uint64_t released, bool now) noexcept {
    released_ = released;
    if (row_ == nullptr) return;
    // Relaxed: a hint that a publisher waits for space; its membarrier orders it against
    // our release store (see RawPublisher's wait for space).
    const bool waiting = view_.header->space_waiters.load(std::memory_order_relaxed) != 0;
    if (!now && !waiting && released_ - published_ < batch_) return;
    // Release: our reads of every frame before `released` happen-before a publisher that
    // reads this value (oldest_needed) and then overwrites them.
    row_->released.store(released_, std::memory_order_release);
    published_ = released_;
    if (waiting && (now || published_ - notified_ >= notify_batch(view_)) &&
        published_ != notified_) {
        notified_ = published_;
        notify_space(view_, row_->space_futex);
    }
}

void notify_space(const SegmentView& view, std::atomic<std::uint32_t>& futex) noexcept {
    // Relaxed: see HeldSet::publish.
    if (view.header->space_waiters.load(std::memory_order_relaxed) == 0) return;
    // Relaxed: a generation counter; the system call orders the rest.
    futex.fetch_add(1, std::memory_order_relaxed);
    futex_wake(futex, INT_MAX);
}

}  // namespace ipcbus::detail
