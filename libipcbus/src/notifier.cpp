// SPDX-License-Identifier: Apache-2.0
#include "notifier.hpp"

#include <sys/eventfd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#include "ipc/futex.hpp"

namespace ipcbus::detail {

Result<std::unique_ptr<Notifier>> Notifier::start(std::vector<Readiness> targets, UniqueFd event) {
    if (targets.empty() || targets.size() >= kMaxFutexWaitItems) {
        return Error{ErrorCode::invalid_argument, "a notification fd watches 1 to " +
                                                      std::to_string(kMaxFutexWaitItems - 1) +
                                                      " subscribers"};
    }
    if (!event.valid()) event = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!event.valid()) {
        return Error{ErrorCode::system_error, std::string("eventfd: ") + std::strerror(errno)};
    }
    std::unique_ptr<Notifier> notifier(new Notifier(std::move(targets), std::move(event)));
    try {
        notifier->thread_ = std::thread([n = notifier.get()] { n->run(); });
    } catch (const std::system_error& e) {
        return Error{ErrorCode::system_error, std::string("cannot start a thread: ") + e.what()};
    }
    return notifier;
}

Notifier::~Notifier() {
    // Release: the thread that sees the word move sees that it must stop.
    interrupt_.fetch_add(1, std::memory_order_release);
    futex_wake(interrupt_, INT_MAX);
    if (thread_.joinable()) thread_.join();
}

void Notifier::run() noexcept {
    // Positions from which a message counts as new: 0 (anything at the reader's cursor)
    // until the first signal, then the first sequence that was not ready when we
    // signalled. (Not the write cursor: a message claimed before the signal and committed
    // after it would never be signalled, and a reliable ring full behind it would block
    // its publishers for good.)
    std::vector<std::uint64_t> from(targets_.size(), 0);
    const WaitTargets wait{targets_, from, &interrupt_, 0};
    for (;;) {
        // Stop first: block_until() reports "ready" before "interrupted", and a member
        // that does not take a dead member's messages would keep us ready for ever.
        if (wait.interrupted()) return;
        if (block_until(wait, UINT64_MAX) != WaitOutcome::ready) return;  // stopped, or failed
        for (std::size_t i = 0; i < targets_.size(); ++i) {
            from[i] = targets_[i].first_pending(from[i]);
            if (targets_[i].group != nullptr) {
                // Relaxed: a hint, as in Readiness::ready().
                targets_[i].orphan_events_seen =
                    targets_[i].group->orphan_events.load(std::memory_order_relaxed);
            }
        }
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto n = ::write(event_.get(), &one, sizeof one);  // never
        // blocks: the counter cannot overflow at one write per new message
    }
}

}  // namespace ipcbus::detail
