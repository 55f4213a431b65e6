// SPDX-License-Identifier: Apache-2.0
#include "ipcbus/subscriber.hpp"

#include <unistd.h>

#include <cstring>
#include <optional>

#include "ipc/membarrier.hpp"
#include "names.hpp"
#include "notifier.hpp"
#include "ring.hpp"
#include "topic_handle.hpp"
#include "wait.hpp"

namespace ipcbus {
namespace detail {

// One of three kinds of reader, fixed at creation:
//  - plain, overwrite mode, inline payloads: RingReader alone; samples need no release;
//  - plain, reliable mode (or a pool topic): RingReader and a HeldSet that tells
//    publishers how far it is (reliable gating; pool buffers still in use);
//  - consumer-group member: GroupReader, in either mode.
struct SubscriberImpl {
    SubscriberImpl(TopicHandle handle, std::string topic_name)
        : topic(std::move(handle)),
          reader(topic.view(), topic.reader_row(),
                 // Relaxed: the daemon set it before its reply (the socket orders).
                 topic.reader_row()->position.load(std::memory_order_relaxed)),
          name(std::move(topic_name)),
          type_name(topic.identity().type_name) {}

    TopicHandle topic;  // closing it makes the daemon free our roster entry
    RingReader reader;
    std::optional<HeldSet> held;
    std::optional<GroupReader> group;
    std::string name;
    std::string type_name;  // what type() points into
    Readiness readiness{};  // what wait() and WaitSets check, from any thread
    WaitStrategy strategy = WaitStrategy::spin_then_block;
    std::uint64_t spin_budget_ns = 20'000;
    std::unique_ptr<Notifier> notifier{};  // first to go: its thread reads the rest
};

const Readiness& readiness_of(const SubscriberImpl& subscriber) noexcept {
    return subscriber.readiness;
}

void release_sample(SubscriberImpl* owner, std::uintptr_t token) noexcept {
    if (owner->group) {
        owner->group->release(static_cast<std::uint32_t>(token));
    } else {
        owner->held->release(token);
    }
}

void copy_shared(std::byte* dst, const std::byte* src, std::size_t n) noexcept {
    // Small copies: relaxed atomic loads, word by word (the compiler may not assume the
    // bytes stay put, so it cannot miscompile a racing read). Large ones: memcpy through a
    // pointer the compiler cannot see into (an opaque call; the copy is validated after).
    constexpr std::size_t kAtomicCopyLimit = 4096;
    if (n > kAtomicCopyLimit) {
        static void* (*volatile const opaque_memcpy)(void*, const void*, std::size_t) =
            &std::memcpy;
        opaque_memcpy(dst, src, n);
        return;
    }
    std::size_t i = 0;
    if (reinterpret_cast<std::uintptr_t>(src) % alignof(std::uint64_t) == 0) {
        for (; i + 8 <= n; i += 8) {
            const std::uint64_t word =
                __atomic_load_n(reinterpret_cast<const std::uint64_t*>(src + i), __ATOMIC_RELAXED);
            std::memcpy(dst + i, &word, 8);
        }
    }
    for (; i < n; ++i) {
        dst[i] = static_cast<std::byte>(
            __atomic_load_n(reinterpret_cast<const unsigned char*>(src + i), __ATOMIC_RELAXED));
    }
}

namespace {

SampleInfo info_of(const Polled& m) noexcept {
    return SampleInfo{m.sequence, m.timestamp_ns, m.size, m.publisher_id, m.origin_sequence};
}

}  // namespace
}  // namespace detail

Result<RawSubscriber> RawSubscriber::create(const Node& node, std::string_view topic,
                                            const TopicOptions& options, const TypeInfo& type,
                                            const ReaderOptions& reader) {
    if (!reader.group.empty()) {
        if (auto ok = detail::validate_group_name(reader.group); !ok) {
            return Error{ok.error().code,
                         "topic '" + std::string(topic) + "': " + ok.error().message};
        }
    }
    // Publishers that wait for space make readers' releases visible with a membarrier;
    // it reaches registered processes only.
    (void)detail::register_for_heavy_fence();
    auto handle =
        detail::TopicHandle::open(node, detail::TopicRequest{topic, type, options, reader},
                                  detail::protocol::Role::subscriber);
    if (!handle) return std::move(handle).error();
    if (!reader.group.empty() && handle->group_state() == nullptr) {
        return Error{ErrorCode::corrupt_segment,
                     "topic '" + std::string(topic) + "': daemon granted no consumer group"};
    }
    std::unique_ptr<detail::SubscriberImpl> impl(
        new detail::SubscriberImpl(std::move(handle).value(), std::string(topic)));
    const detail::SegmentView& view = impl->topic.view();
    layout::ReaderRow* row = impl->topic.reader_row();
    if (impl->topic.group_state() != nullptr) {
        impl->group.emplace(view, row, impl->topic.index(), impl->topic.group_state());
        impl->readiness =
            detail::Readiness{&impl->reader.view(), &impl->topic.group_state()->cursor,
                              impl->topic.group_state(), row};
    } else {
        if (view.reliable || view.pooled()) impl->held.emplace(view, row, impl->reader.next());
        impl->readiness =
            detail::Readiness{&impl->reader.view(), &impl->reader.position(), nullptr, row};
    }
    return RawSubscriber(std::move(impl));
}

RawSubscriber::RawSubscriber(std::unique_ptr<detail::SubscriberImpl> impl) noexcept
    : impl_(std::move(impl)) {}
RawSubscriber::RawSubscriber(RawSubscriber&&) noexcept = default;
RawSubscriber& RawSubscriber::operator=(RawSubscriber&&) noexcept = default;
RawSubscriber::~RawSubscriber() = default;

namespace detail {
namespace {

// One message from whichever reader the subscriber has; `token` is what releasing the
// sample needs (the mark slot of a group member, else the sequence).
PollStatus poll_any(SubscriberImpl& s, Polled& m, std::uintptr_t& token) noexcept {
    if (s.group) {
        std::uint32_t slot = 0;
        const PollStatus status = s.group->poll(m, slot);
        token = slot;
        if (status == PollStatus::empty) s.group->idle();
        return status;
    }
    const PollStatus status = s.reader.poll(m);
    token = m.sequence;
    if (s.held) {
        if (status == PollStatus::message) {
            s.held->hold(m.sequence);
        } else {
            s.held->catch_up(s.reader.next());  // skips and overruns moved us on
            if (status == PollStatus::empty) s.held->idle();
        }
    }
    // Nothing to read: tell publishers and observers where we are (batched otherwise).
    if (status == PollStatus::empty) s.reader.publish_position();
    return status;
}

ReceiveError to_receive_error(PollStatus status) noexcept {
    return status == PollStatus::too_many_held ? ReceiveError::too_many_samples
                                               : ReceiveError::corrupt_slot;
}

}  // namespace
}  // namespace detail

Expected<std::optional<RawSample>, ReceiveError> RawSubscriber::take() noexcept {
    detail::SubscriberImpl& s = *impl_;
    detail::Polled m{};
    std::uintptr_t token = 0;
    const detail::PollStatus status = detail::poll_any(s, m, token);
    if (status == detail::PollStatus::empty) return std::optional<RawSample>{};
    if (status != detail::PollStatus::message) return detail::to_receive_error(status);
    // Overwrite-mode plain readers of inline topics release nothing: no owner, no call.
    detail::SubscriberImpl* owner = s.group || s.held ? &s : nullptr;
    return std::optional<RawSample>(RawSample(&m.frame->stamp, m.stamp, m.buffer_state,
                                              m.buffer_generation, m.payload, detail::info_of(m),
                                              owner, token));
}

Expected<std::optional<SampleInfo>, ReceiveError> RawSubscriber::take_copy(
    std::span<std::byte> buffer) noexcept {
    detail::SubscriberImpl& s = *impl_;
    if (buffer.size() < s.reader.view().slot_size) return ReceiveError::buffer_too_small;
    for (;;) {
        detail::Polled m{};
        std::uintptr_t token = 0;
        const detail::PollStatus status = detail::poll_any(s, m, token);
        if (status == detail::PollStatus::empty) return std::optional<SampleInfo>{};
        if (status != detail::PollStatus::message) return detail::to_receive_error(status);
        // Reliable mode: nothing rewrites the frame while we hold it; a plain copy.
        if (s.reader.view().reliable) {
            std::memcpy(buffer.data(), m.payload, m.size);
        } else {
            detail::copy_shared(buffer.data(), m.payload, m.size);
        }
        const bool torn = !s.reader.view().reliable && detail::overwritten(m);
        if (s.group || s.held) detail::release_sample(&s, token);
        if (!torn) return std::optional<SampleInfo>(detail::info_of(m));
        // Torn copy (overwrite mode only): the message is gone, try the next one.
        if (s.group) {
            s.group->count_lost(1);
        } else {
            s.reader.count_lost(1);
        }
    }
}

void RawSubscriber::set_wait_strategy(WaitStrategy strategy,
                                      std::chrono::nanoseconds spin_budget) noexcept {
    impl_->strategy = strategy;
    impl_->spin_budget_ns =
        spin_budget.count() <= 0 ? 0 : static_cast<std::uint64_t>(spin_budget.count());
}

namespace detail {
namespace {

std::uint64_t to_ns(std::chrono::nanoseconds timeout) noexcept {
    return timeout.count() <= 0 ? 0 : static_cast<std::uint64_t>(timeout.count());
}

WaitOutcome wait_for(const SubscriberImpl& s, std::uint64_t deadline) noexcept {
    const WaitTargets targets{std::span(&s.readiness, 1), {}, nullptr, 0};
    switch (s.strategy) {
        case WaitStrategy::busy_spin:
            return spin_until(targets, deadline, false);
        case WaitStrategy::spin_yield:
            return spin_until(targets, deadline, true);
        case WaitStrategy::spin_then_block:
            break;
    }
    const std::uint64_t spin_end = std::min(deadline, deadline_after(s.spin_budget_ns));
    if (spin_until(targets, spin_end, false) == WaitOutcome::ready) return WaitOutcome::ready;
    return block_until(targets, deadline);
}

}  // namespace
}  // namespace detail

bool RawSubscriber::wait(std::chrono::nanoseconds timeout) noexcept {
    return detail::wait_for(*impl_, detail::deadline_after(detail::to_ns(timeout))) ==
           detail::WaitOutcome::ready;
}

namespace detail {
namespace {

// Blocking receive around any non-blocking one: `attempt` returns the message, nothing
// (std::nullopt: wait for more), or an error.
template <class T, class Attempt>
Expected<T, ReceiveError> receive_with(SubscriberImpl& s, std::uint64_t deadline,
                                       Attempt attempt) noexcept {
    for (;;) {
        auto taken = attempt();
        if (!taken) return taken.error();
        if (taken->has_value()) return std::move(**taken);
        // Nothing (or only a skip or a torn message passed over): wait for more.
        switch (wait_for(s, deadline)) {
            case WaitOutcome::ready:
                continue;
            case WaitOutcome::failed:
                return ReceiveError::wait_failed;
            default:
                return ReceiveError::timed_out;
        }
    }
}

}  // namespace
}  // namespace detail

Expected<RawSample, ReceiveError> RawSubscriber::receive(
    std::chrono::nanoseconds timeout) noexcept {
    return detail::receive_with<RawSample>(*impl_, detail::deadline_after(detail::to_ns(timeout)),
                                           [this] { return take(); });
}

Expected<SampleInfo, ReceiveError> RawSubscriber::receive_copy(
    std::span<std::byte> buffer, std::chrono::nanoseconds timeout) noexcept {
    return detail::receive_with<SampleInfo>(*impl_, detail::deadline_after(detail::to_ns(timeout)),
                                            [this, buffer] { return take_copy(buffer); });
}

Result<int> RawSubscriber::notification_fd() {
    if (!impl_->notifier) {
        auto notifier = detail::Notifier::start({impl_->readiness});
        if (!notifier) return std::move(notifier).error();
        impl_->notifier = std::move(notifier).value();
    }
    return impl_->notifier->fd();
}

std::uint64_t RawSubscriber::lost() const noexcept {
    return impl_->group ? impl_->group->lost() : impl_->reader.lost();
}
std::uint64_t RawSubscriber::skipped() const noexcept {
    return impl_->group ? impl_->group->skipped() : impl_->reader.skipped();
}
std::uint64_t RawSubscriber::next_sequence() const noexcept {
    return impl_->group ? impl_->group->next() : impl_->reader.next();
}
std::size_t RawSubscriber::max_payload_size() const noexcept {
    return impl_->reader.view().slot_size;
}
std::string_view RawSubscriber::topic() const noexcept {
    return impl_->name;
}

TypeInfo RawSubscriber::type() const noexcept {
    // The validated copy made when the topic was opened (never re-read from the segment).
    const detail::TopicIdentity& id = impl_->topic.identity();
    return TypeInfo{impl_->type_name, id.type_size, id.type_align, id.schema_hash};
}

DeliveryMode RawSubscriber::mode() const noexcept {
    return impl_->reader.view().mode();
}

}  // namespace ipcbus
