// SPDX-License-Identifier: Apache-2.0
// The buffer pool of large-message topics: most-recently-freed reuse of buffers no reader
// can still need.
#include "ring.hpp"

#include <algorithm>

#include "ring_internal.hpp"

namespace ipcbus::detail {

bool PoolWriter::grab(std::uint32_t index, std::uint64_t state) noexcept {
    layout::BufferHeader& b = view_.pool[index];
    const std::uint64_t generation = layout::buffer_generation(state) + 1;
    // acq_rel: acquire the previous owner's writes; the generation change becomes visible
    // before any payload byte we write (a locked RMW is a full barrier; readers validate
    // the generation after reading, with an acquire fence).
    if (!b.state.compare_exchange_strong(
            state, layout::buffer_state(generation, id_, layout::BufferKind::loaned),
            std::memory_order_acq_rel, std::memory_order_relaxed)) {
        return false;
    }
    // Relaxed: a hint for the most-recently-used choice of later takes.
    b.last_use.store(view_.header->write_cursor.load(std::memory_order_relaxed) + 1,
                     std::memory_order_relaxed);
    last_generation_ = generation;
    return true;
}

std::optional<BufferLoan> PoolWriter::take_reusable() noexcept {
    for (int attempt = 0; attempt < 4; ++attempt) {
        std::int64_t best = -1;
        std::uint64_t best_use = 0;
        std::uint64_t best_state = 0;
        for (std::uint32_t i = 0; i < view_.pool_buffers; ++i) {
            const layout::BufferHeader& b = view_.pool[i];
            // Acquire: pairs with the release that committed or freed the buffer.
            const std::uint64_t state = b.state.load(std::memory_order_acquire);
            const layout::BufferKind kind = layout::buffer_kind(state);
            const bool reusable = kind == layout::BufferKind::free ||
                                  (kind == layout::BufferKind::committed &&
                                   b.sequence.load(std::memory_order_relaxed) < reuse_limit_);
            if (!reusable) continue;
            // The most recently used: still in cache, where the ring's oldest frame is not.
            const std::uint64_t use = b.last_use.load(std::memory_order_relaxed);
            if (best < 0 || use > best_use) {
                best = i;
                best_use = use;
                best_state = state;
            }
        }
        if (best < 0) return std::nullopt;
        if (grab(static_cast<std::uint32_t>(best), best_state)) {
            return BufferLoan{static_cast<std::uint32_t>(best), last_generation_};
        }
    }
    return std::nullopt;
}

std::optional<BufferLoan> PoolWriter::take_oldest() noexcept {
    for (int attempt = 0; attempt < 4; ++attempt) {
        std::int64_t oldest = -1;
        std::uint64_t oldest_seq = ~0ULL;
        std::uint64_t oldest_state = 0;
        for (std::uint32_t i = 0; i < view_.pool_buffers; ++i) {
            const layout::BufferHeader& b = view_.pool[i];
            const std::uint64_t state = b.state.load(std::memory_order_acquire);
            if (layout::buffer_kind(state) == layout::BufferKind::loaned) continue;
            const std::uint64_t seq = b.sequence.load(std::memory_order_relaxed);
            if (seq < oldest_seq) {
                oldest = i;
                oldest_seq = seq;
                oldest_state = state;
            }
        }
        if (oldest < 0) return std::nullopt;  // every buffer on loan: the caller's cap failed
        if (grab(static_cast<std::uint32_t>(oldest), oldest_state)) {
            return BufferLoan{static_cast<std::uint32_t>(oldest), last_generation_};
        }
    }
    return std::nullopt;
}

std::optional<BufferLoan> PoolWriter::take() noexcept {
    // The limit is computed afresh for every loan (a scan of the readers, small next to a
    // large payload), so that the buffer freed last is the one reused: warm in cache.
    // seq_cst: the first load of oldest_needed's ordering argument.
    const std::uint64_t cursor = view_.header->write_cursor.load(std::memory_order_seq_cst);
    const std::uint64_t needed = readers_.oldest_needed(cursor);
    // The newest history_depth messages stay for late joiners.
    const std::uint64_t kept = cursor > view_.history_depth ? cursor - view_.history_depth : 0;
    reuse_limit_ = std::max(reuse_limit_, std::min(needed, kept));
    if (auto loan = take_reusable()) return loan;
    // Overwrite mode never waits: the oldest message goes, and a reader still on it
    // finds its generation changed and counts it lost.
    if (!view_.reliable) return take_oldest();
    return std::nullopt;
}

void PoolWriter::committed(const BufferLoan& loan, std::uint64_t sequence) noexcept {
    layout::BufferHeader& b = view_.pool[loan.index];
    // Relaxed, then release: whoever sees it committed sees the sequence.
    b.sequence.store(sequence, std::memory_order_relaxed);
    b.state.store(layout::buffer_state(loan.generation, id_, layout::BufferKind::committed),
                  std::memory_order_release);
}

void PoolWriter::give_back(const BufferLoan& loan) noexcept {
    std::uint64_t expected = layout::buffer_state(loan.generation, id_, layout::BufferKind::loaned);
    // Release: our writes into it are done. Fails only if the daemon already reclaimed it.
    view_.pool[loan.index].state.compare_exchange_strong(
        expected, layout::buffer_state(loan.generation, 0, layout::BufferKind::free),
        std::memory_order_release, std::memory_order_relaxed);
}

}  // namespace ipcbus::detail
