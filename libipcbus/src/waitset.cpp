// SPDX-License-Identifier: Apache-2.0
#include "ipcbus/waitset.hpp"

#include <atomic>
#include <climits>
#include <thread>
#include <vector>

#include "ipc/futex.hpp"
#include "notifier.hpp"
#include "wait.hpp"

namespace ipcbus {
namespace detail {

struct WaitSetImpl;
void refresh_pending(WaitSetImpl& w) noexcept;

struct WaitSetImpl {
    std::vector<Readiness> readiness;
    // By index: a subscriber still waiting for its topic (readiness holds its stand-in
    // until it is attached), else null.
    std::vector<const PendingAttach*> pending;
    std::vector<std::size_t> ready;  // wait()'s answer
    std::size_t rotation = 0;        // where the next answer starts
    std::atomic<std::uint32_t> interrupt{0};
    std::unique_ptr<Notifier> notifier;
};

// Subscribers that have been attached since: watch their topics from now on.
void refresh_pending(WaitSetImpl& w) noexcept {
    for (std::size_t i = 0; i < w.pending.size(); ++i) {
        if (w.pending[i] == nullptr) continue;
        if (const Readiness* attached = attached_readiness(*w.pending[i])) {
            w.readiness[i] = *attached;
            w.pending[i] = nullptr;
        }
    }
}

}  // namespace detail

WaitSet::WaitSet() : impl_(std::make_unique<detail::WaitSetImpl>()) {}
WaitSet::WaitSet(WaitSet&&) noexcept = default;
WaitSet& WaitSet::operator=(WaitSet&&) noexcept = default;
WaitSet::~WaitSet() = default;

Result<std::size_t> WaitSet::attach(RawSubscriber& subscriber) {
    detail::WaitSetImpl& w = *impl_;
    if (w.notifier) {
        return Error{ErrorCode::invalid_argument, "attach subscribers before notification_fd()"};
    }
    if (w.readiness.size() >= max_waitset_size) {
        return Error{
            ErrorCode::resource_exhausted,
            "a WaitSet holds at most " + std::to_string(max_waitset_size) + " subscribers"};
    }
    if (subscriber.impl_ == nullptr && !subscriber.adopt_attached()) {
        w.readiness.push_back(detail::standin_readiness(*subscriber.pending_));
        w.pending.push_back(subscriber.pending_.get());
    } else {
        w.readiness.push_back(detail::readiness_of(*subscriber.impl_));
        w.pending.push_back(nullptr);
    }
    w.ready.reserve(w.readiness.size());  // wait() must not allocate
    return w.readiness.size() - 1;
}

Expected<std::span<const std::size_t>, ReceiveError> WaitSet::wait(
    std::chrono::nanoseconds timeout) noexcept {
    detail::WaitSetImpl& w = *impl_;
    const std::uint32_t seen = w.interrupt.load(std::memory_order_acquire);
    const std::uint64_t ns = timeout.count() <= 0 ? 0 : static_cast<std::uint64_t>(timeout.count());
    const std::uint64_t deadline = detail::deadline_after(ns);
    for (;;) {
        w.ready.clear();
        detail::refresh_pending(w);
        const detail::WaitTargets targets{w.readiness, {}, &w.interrupt, seen};
        // Spin a little first: data often arrives within microseconds of asking.
        auto outcome =
            detail::spin_until(targets, std::min(deadline, detail::deadline_after(20'000)), false);
        if (outcome == detail::WaitOutcome::timed_out) {
            outcome = detail::block_until(targets, deadline);
        }
        if (outcome == detail::WaitOutcome::failed) return ReceiveError::wait_failed;
        // A stand-in that became ready means its subscriber was attached: look again, at
        // its topic now, unless something else is ready or the wait is over.
        detail::refresh_pending(w);
        const std::size_t n = w.readiness.size();
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t i = (w.rotation + k) % n;
            if (w.readiness[i].ready()) w.ready.push_back(i);
        }
        w.rotation = n == 0 ? 0 : (w.rotation + 1) % n;
        if (!w.ready.empty() || outcome != detail::WaitOutcome::ready) break;
    }
    return std::span<const std::size_t>(w.ready);
}

void WaitSet::notify() noexcept {
    // Release: pairs with the acquire in WaitTargets::interrupted().
    impl_->interrupt.fetch_add(1, std::memory_order_release);
    detail::futex_wake(impl_->interrupt, INT_MAX);
}

Result<int> WaitSet::notification_fd() {
    detail::refresh_pending(*impl_);
    for (const detail::PendingAttach* pending : impl_->pending) {
        if (pending != nullptr) {
            return Error{ErrorCode::invalid_argument,
                         "a subscriber of this WaitSet is still waiting for its topic to be "
                         "created; use wait(), or ask for notification_fd() once every "
                         "subscriber is_attached()"};
        }
    }
    if (!impl_->notifier) {
        auto notifier = detail::Notifier::start(impl_->readiness);
        if (!notifier) return std::move(notifier).error();
        impl_->notifier = std::move(notifier).value();
    }
    return impl_->notifier->fd();
}

std::size_t WaitSet::size() const noexcept {
    return impl_->readiness.size();
}

namespace detail {

struct ListenerImpl {
    WaitSet waitset;
    std::vector<std::function<bool()>> handlers;  // by WaitSet index
    std::atomic<bool> stopping{false};
    std::thread thread;

    void run() noexcept;
};

// How many messages one topic may handle before the others get their turn.
constexpr int kBatch = 16;

void ListenerImpl::run() noexcept {
    while (!stopping.load(std::memory_order_acquire)) {
        auto ready = waitset.wait(std::chrono::seconds(1));
        if (!ready) return;  // the kernel cannot sleep on these topics: stop
        for (const std::size_t i : *ready) {
            for (int n = 0; n < kBatch && !stopping.load(std::memory_order_relaxed); ++n) {
                if (!handlers[i]()) break;
            }
        }
    }
}

}  // namespace detail

Listener::Listener() : impl_(std::make_unique<detail::ListenerImpl>()) {}
Listener::~Listener() {
    stop();
}

Result<Ok> Listener::on(RawSubscriber& subscriber, std::function<void(const RawSample&)> callback) {
    return add(subscriber, [&subscriber, cb = std::move(callback)]() -> bool {
        auto taken = subscriber.take();
        if (!taken) return true;  // a bad message was consumed; go on
        if (!taken->has_value()) return false;
        cb(**taken);
        return true;
    });
}

Result<Ok> Listener::add(RawSubscriber& subscriber, std::function<bool()> take_one) {
    if (impl_->thread.joinable()) {
        return Error{ErrorCode::invalid_argument, "add callbacks before Listener::start()"};
    }
    auto index = impl_->waitset.attach(subscriber);
    if (!index) return std::move(index).error();
    impl_->handlers.push_back(std::move(take_one));
    return Ok{};
}

Result<Ok> Listener::start() {
    if (impl_->thread.joinable()) return Error{ErrorCode::invalid_argument, "already started"};
    if (impl_->handlers.empty()) return Error{ErrorCode::invalid_argument, "nothing to listen to"};
    impl_->stopping.store(false, std::memory_order_relaxed);
    try {
        impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
    } catch (const std::system_error& e) {
        return Error{ErrorCode::system_error, std::string("cannot start a thread: ") + e.what()};
    }
    return Ok{};
}

void Listener::stop() noexcept {
    if (!impl_ || !impl_->thread.joinable()) return;
    // Release: the thread that sees the flag sees everything before it.
    impl_->stopping.store(true, std::memory_order_release);
    impl_->waitset.notify();
    if (impl_->thread.get_id() == std::this_thread::get_id()) return;  // from a callback
    impl_->thread.join();
}

}  // namespace ipcbus
