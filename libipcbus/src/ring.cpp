#include "ring.hpp"

#include <atomic>

#include "clock.hpp"

namespace ipcbus::detail {

using layout::kBusyBit;
using layout::kSkippedBit;
using layout::kStampMask;
using layout::stamp_of;

ClaimStatus RingWriter::claim(std::uint64_t& sequence) noexcept {
    // Relaxed: the cursor is only a ticket dispenser; the slot's stamp CAS below is what
    // orders the slot's contents for readers.
    sequence = view_.header->write_cursor.fetch_add(1, std::memory_order_relaxed);
    auto& slot = view_.slot(sequence);
    auto& stamp = slot.stamp;
    const std::uint64_t mine = stamp_of(sequence);
    // Relaxed: read only by the daemon after this process died. Stored before the CAS so
    // that a death right after the CAS still leaves our id there.
    slot.owner.store(publisher_id_, std::memory_order_relaxed);
    std::uint64_t word = stamp.load(std::memory_order_relaxed);
    for (;;) {
        if ((word & kStampMask) >= mine) return ClaimStatus::lapped;
        if ((word & kBusyBit) != 0) {
            // An older lap of this slot is still being written by another publisher.
            cpu_relax();
            word = stamp.load(std::memory_order_relaxed);
            continue;
        }
        // Acquire on success: we must not write the payload before we own the slot.
        if (stamp.compare_exchange_weak(word, kBusyBit | mine, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
            break;
        }
    }
    // Again after winning: a publisher racing us for this slot may have overwritten it.
    slot.owner.store(publisher_id_, std::memory_order_relaxed);
    // Release fence: the payload stores that follow must not become visible before the
    // BUSY mark (seqlock writer side; pairs with the reader's acquire fence in the
    // overwrite re-check).
    std::atomic_thread_fence(std::memory_order_release);
    return ClaimStatus::claimed;
}

void RingWriter::commit(std::uint64_t sequence, std::uint64_t size, std::uint32_t publisher_id,
                        std::uint64_t timestamp_ns) noexcept {
    auto& slot = view_.slot(sequence);
    // Relaxed: these fields are published by the release store of the stamp below.
    slot.size.store(size, std::memory_order_relaxed);
    slot.timestamp_ns.store(timestamp_ns, std::memory_order_relaxed);
    slot.publisher_id.store(publisher_id, std::memory_order_relaxed);
    // Release: pairs with the reader's acquire load of the stamp; everything written into
    // the slot (payload and fields) happens-before a reader that sees this stamp.
    slot.stamp.store(stamp_of(sequence), std::memory_order_release);
}

void RingWriter::abandon(std::uint64_t sequence) noexcept {
    // Release: a reader that sees SKIPPED must also see that we stopped writing.
    view_.slot(sequence).stamp.store(kSkippedBit | stamp_of(sequence), std::memory_order_release);
    view_.header->skipped_total.fetch_add(1, std::memory_order_relaxed);  // statistics only
}

std::uint64_t resolve_abandoned_slots(const SegmentView& view,
                                      std::uint32_t publisher_id) noexcept {
    std::uint64_t resolved = 0;
    for (std::uint64_t i = 0; i <= view.mask; ++i) {
        auto& slot = view.slots[i];
        // Acquire: pairs with the dead publisher's CAS; its owner store is then visible.
        std::uint64_t word = slot.stamp.load(std::memory_order_acquire);
        if ((word & kBusyBit) == 0 || slot.owner.load(std::memory_order_relaxed) != publisher_id) {
            continue;
        }
        // Release: readers that see SKIPPED must not read the half-written payload; CAS so
        // that we never clobber a slot another publisher has meanwhile taken.
        const std::uint64_t skipped = kSkippedBit | (word & kStampMask);
        if (slot.stamp.compare_exchange_strong(word, skipped, std::memory_order_release,
                                               std::memory_order_relaxed)) {
            view.header->skipped_total.fetch_add(1, std::memory_order_relaxed);  // statistics
            ++resolved;
        }
    }
    return resolved;
}

PollStatus RingReader::poll(Polled& out) noexcept {
    // Each pass either returns or moves next_ forward (skip, overrun); the bound keeps a
    // reader that is lapped over and over by a much faster publisher from spinning here.
    for (int pass = 0; pass < 64; ++pass) {
        const auto& slot = view_.slot(next_);
        const std::uint64_t target = stamp_of(next_);
        // Acquire: pairs with the publisher's release store in commit()/abandon().
        const std::uint64_t word = slot.stamp.load(std::memory_order_acquire);
        const std::uint64_t found = word & kStampMask;
        if (found < target) return PollStatus::empty;  // not yet written (or never)
        if (found > target) {                          // lapped: our message is gone
            jump_after_overrun();
            continue;
        }
        if ((word & kBusyBit) != 0) return PollStatus::empty;  // being written right now
        if ((word & kSkippedBit) != 0) {
            ++skipped_;
            if (entry_ != nullptr) entry_->skipped.store(skipped_, std::memory_order_relaxed);
            advance();
            continue;
        }
        out.slot = &slot;
        out.stamp = word;
        out.sequence = next_;
        out.size = slot.size.load(std::memory_order_relaxed);
        out.timestamp_ns = slot.timestamp_ns.load(std::memory_order_relaxed);
        out.publisher_id = slot.publisher_id.load(std::memory_order_relaxed);
        if (overwritten(out)) continue;  // fields may be torn; next pass sees the overrun
        advance();
        if (out.size > view_.slot_size) {
            count_lost(1);
            return PollStatus::corrupt;
        }
        out.payload = view_.payload(out.sequence);
        return PollStatus::message;
    }
    return PollStatus::empty;
}

bool RingReader::overwritten(const Polled& message) noexcept {
    // Acquire fence: the reads of the slot made before it are ordered before the re-load
    // (seqlock reader's second check; pairs with the writer's release fence in claim()).
    std::atomic_thread_fence(std::memory_order_acquire);
    return message.slot->stamp.load(std::memory_order_relaxed) != message.stamp;
}

void RingReader::count_lost(std::uint64_t n) noexcept {
    lost_ += n;
    // Relaxed: an observer's statistic; nothing is ordered by it.
    if (entry_ != nullptr) entry_->lost.store(lost_, std::memory_order_relaxed);
}

void RingReader::jump_after_overrun() noexcept {
    // We saw a stamp of a later lap, written by a publisher after its claim, and our
    // acquire load synchronised with that write: this load returns a cursor beyond the
    // sequence we saw (coherence), so relaxed suffices and `oldest` > next_.
    const std::uint64_t cursor = view_.header->write_cursor.load(std::memory_order_relaxed);
    const std::uint64_t oldest = cursor - (view_.mask + 1);
    if (oldest > next_) {
        count_lost(oldest - next_);
        next_ = oldest;
        if (entry_ != nullptr) entry_->cursor.store(next_, std::memory_order_relaxed);
    }
}

void RingReader::advance() noexcept {
    ++next_;
    // Relaxed: the cursor in the reader table is for observers (lag statistics).
    if (entry_ != nullptr) entry_->cursor.store(next_, std::memory_order_relaxed);
}

}  // namespace ipcbus::detail
