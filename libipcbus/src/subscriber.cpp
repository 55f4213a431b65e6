// SPDX-License-Identifier: Apache-2.0
#include "ipcbus/subscriber.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <mutex>

#include <cstring>
#include <optional>

#include "ipc/futex.hpp"
#include "ipc/membarrier.hpp"
#include "matched_tracker.hpp"
#include "names.hpp"
#include "notifier.hpp"
#include "ring.hpp"
#include "roster.hpp"
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
    SubscriberImpl(const SubscriberImpl&) = delete;
    SubscriberImpl& operator=(const SubscriberImpl&) = delete;
    ~SubscriberImpl() {
        // No event may reach us once we start going away (the handler points at us). A
        // reader taken over from a PendingAttach has that one's handler, gone already; one
        // never taken over has no registration of its own (and may be dropped by the
        // attach handler itself, under the client's lock, which must not be taken again).
        if (topic.local_id() != 0) topic.daemon()->set_event_handler(topic.local_id(), nullptr);
        if (matched) matched->stop();
    }

    // The publishers the topic's table shows now, for the matched status.
    void recount_publishers() {
        matched->update(count_active_publishers(topic.view()), *topic.daemon());
    }

    TopicHandle topic;  // closing it makes the daemon free our roster entry
    RingReader reader;
    std::optional<HeldSet> held;
    std::optional<GroupReader> group;
    std::string name;
    std::string type_name;  // what type() points into
    Readiness readiness{};  // what wait() and WaitSets check, from any thread
    WaitStrategy strategy = WaitStrategy::spin_then_block;
    std::uint64_t spin_budget_ns = 20'000;
    // Publishers matched; shared with the PendingAttach it may come from, and with
    // callbacks posted to the client.
    std::shared_ptr<MatchedTracker> matched;
    std::unique_ptr<Notifier> notifier{};  // first to go: its thread reads the rest
};

const Readiness& readiness_of(const SubscriberImpl& subscriber) noexcept {
    return subscriber.readiness;
}

// A subscriber whose topic did not exist when it was created. The daemon attaches it when
// a publisher creates the topic and sends the grant as an event; the event handler (the
// client's watcher thread, or whichever thread reads the event) builds the whole reader,
// so the subscriber's thread only takes it over: no system call, no allocation there.
struct PendingAttach {
    enum State : std::uint32_t { kWaiting = 0, kAttached = 1, kFailed = 2 };

    PendingAttach(std::string_view topic_name, const TypeInfo& requested_type,
                  const TopicOptions& requested_options, const ReaderOptions& reader_options)
        : topic(topic_name),
          type_name(requested_type.name),
          type(requested_type),
          options(requested_options),
          reader(reader_options),
          matched(std::make_shared<MatchedTracker>(topic, "publisher")) {
        type.name = type_name;
        // The stand-in: one frame, not committed until the subscriber attaches.
        standin_view.header = &standin_header;
        standin_view.frames = reinterpret_cast<std::byte*>(&standin_frame);
        standin_view.capacity = 1;
        standin_view.frame_stride = sizeof(layout::FrameHeader);
        standin = Readiness{&standin_view, &standin_position, nullptr, nullptr};
    }
    PendingAttach(const PendingAttach&) = delete;
    PendingAttach& operator=(const PendingAttach&) = delete;
    ~PendingAttach() {
        if (daemon == nullptr || local_id == 0) return;
        // Under the client's lock: once this returns, no event handler runs on us.
        if (adopted) {
            daemon->set_event_handler(local_id, nullptr);  // the reader's handle owns it now
        } else {
            daemon->forget(local_id);  // ends the wait (or closes the unadopted reader)
        }
        matched->stop();
    }

    [[nodiscard]] TopicRequest request() const {
        return TopicRequest{topic, type, options, reader};
    }

    // Wakes whoever waits on the stand-in (wait(), a WaitSet, the notification thread).
    void signal() noexcept {
        // seq_cst, as a publisher's commit: the store half of the Dekker pairing with a
        // sleeper's announce-then-recheck (wait.hpp; Readiness::ready() loads the stamp
        // seq_cst), and after finish()'s release store of `state`, so whoever sees the
        // frame committed also sees what was attached.
        standin_frame.stamp.store(layout::stamp_of(0), std::memory_order_seq_cst);
        standin_header.write_cursor.store(1, std::memory_order_seq_cst);
        standin_header.data_futex.fetch_add(1, std::memory_order_seq_cst);
        futex_wake(standin_header.data_futex, INT_MAX);
        if (notify_event.valid()) {
            const std::uint64_t one = 1;
            (void)!::write(notify_event.get(), &one, sizeof one);
        }
    }

    void finish(State outcome) noexcept {
        // Release: pairs with the acquire loads in adopt_attached() and the WaitSet; the
        // reader (or the failure) was written before.
        state.store(outcome, std::memory_order_release);
        signal();
    }

    const std::string topic;
    const std::string type_name;  // what type.name points into
    TypeInfo type;
    const TopicOptions options;
    const ReaderOptions reader;
    // Publishers matched: 0 while waiting; the attached reader takes it over.
    std::shared_ptr<MatchedTracker> matched;
    std::shared_ptr<DaemonClient> daemon;
    std::uint64_t local_id = 0;  // the registration, ours until adopted

    std::mutex mutex;  // the event handler vs. notification_fd()
    std::atomic<std::uint32_t> state{kWaiting};
    std::unique_ptr<SubscriberImpl> attached;  // built by the handler; taken by the subscriber
    SubscriberImpl* attached_raw = nullptr;    // stays valid as long as the subscriber
    std::optional<Error> failure;
    bool adopted = false;   // subscriber thread only
    UniqueFd notify_event;  // the eventfd notification_fd() handed out while waiting

    // What wait() and WaitSets watch while waiting (Readiness needs a topic).
    layout::TopicHeader standin_header{};
    layout::FrameHeader standin_frame{};
    std::atomic<std::uint64_t> standin_position{0};
    SegmentView standin_view{};
    Readiness standin{};

    // The subscriber's wait settings, carried over when it attaches.
    WaitStrategy strategy = WaitStrategy::spin_then_block;
    std::uint64_t spin_budget_ns = 20'000;
};

const Readiness& standin_readiness(const PendingAttach& pending) noexcept {
    return pending.standin;
}

const Readiness* attached_readiness(const PendingAttach& pending) noexcept {
    // Acquire: pairs with finish(); attached_raw was written before.
    if (pending.state.load(std::memory_order_acquire) != PendingAttach::kAttached) return nullptr;
    return &pending.attached_raw->readiness;
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

namespace detail {
namespace {

// The reader for a granted topic: which kind (plain, held, group member) and what waiting
// watches.
Result<std::unique_ptr<SubscriberImpl>> make_impl(TopicHandle handle, std::string_view topic,
                                                  bool grouped,
                                                  std::shared_ptr<MatchedTracker> matched) {
    if (grouped && handle.group_state() == nullptr) {
        return Error{ErrorCode::corrupt_segment,
                     "topic '" + std::string(topic) + "': daemon granted no consumer group"};
    }
    std::unique_ptr<SubscriberImpl> impl(new SubscriberImpl(std::move(handle), std::string(topic)));
    impl->matched = std::move(matched);
    const SegmentView& view = impl->topic.view();
    layout::ReaderRow* row = impl->topic.reader_row();
    if (impl->topic.group_state() != nullptr) {
        impl->group.emplace(view, row, impl->topic.index(), impl->topic.group_state());
        impl->readiness = Readiness{&impl->reader.view(), &impl->topic.group_state()->cursor,
                                    impl->topic.group_state(), row};
    } else {
        if (view.reliable || view.pooled()) impl->held.emplace(view, row, impl->reader.next());
        impl->readiness = Readiness{&impl->reader.view(), &impl->reader.position(), nullptr, row};
    }
    return impl;
}

Error error_of_event(const nlohmann::json& event) {
    const auto code = event.find("code");
    const auto text = event.find("error");
    return Error{code != event.end() && code->is_string()
                     ? protocol::error_code_from(code->get_ref<const std::string&>())
                     : ErrorCode::system_error,
                 text != event.end() && text->is_string() ? text->get<std::string>()
                                                          : std::string("attach failed")};
}

// The daemon's "attached" or "attach_failed" event for a waiting subscriber. Runs with
// the client's lock held: builds the reader, never calls the daemon.
void on_attach_event(PendingAttach& p, const nlohmann::json& event, std::vector<UniqueFd>& fds) {
    std::lock_guard lock(p.mutex);
    if (p.state.load(std::memory_order_relaxed) != PendingAttach::kWaiting) return;
    auto fail = [&p](Error error) {
        p.failure = std::move(error);
        p.finish(PendingAttach::kFailed);
    };
    if (event.value("event", "") != "attached") return fail(error_of_event(event));
    auto handle = TopicHandle::from_grant(p.daemon, p.request(), false, event, fds);
    if (!handle) return fail(std::move(handle).error());
    auto impl = make_impl(std::move(handle).value(), p.topic, !p.reader.group.empty(), p.matched);
    if (!impl) return fail(std::move(impl).error());
    SubscriberImpl& s = **impl;  // its wait settings come from the subscriber's thread
    if (p.notify_event.valid()) {
        // The fd handed out while waiting goes on working: the notification thread of the
        // attached reader signals the same eventfd.
        UniqueFd same(::fcntl(p.notify_event.get(), F_DUPFD_CLOEXEC, 0));
        auto notifier = Notifier::start({s.readiness}, std::move(same));
        if (!notifier) return fail(std::move(notifier).error());
        s.notifier = std::move(notifier).value();
    }
    p.attached_raw = &s;
    p.attached = std::move(impl).value();
    p.finish(PendingAttach::kAttached);
    s.recount_publishers();  // the publisher that created the topic, at least
}

// Events for a subscriber that waited: the attach, then (once attached) matched changes.
void on_pending_event(PendingAttach& p, const nlohmann::json& event, std::vector<UniqueFd>& fds) {
    if (event.value("event", "") != "matched") return on_attach_event(p, event, fds);
    std::lock_guard lock(p.mutex);
    if (p.state.load(std::memory_order_relaxed) == PendingAttach::kAttached) {
        p.attached_raw->recount_publishers();
    }
}

// Events for a subscriber attached at once: matched changes.
void on_reader_event(SubscriberImpl& s, const nlohmann::json& event) {
    if (event.value("event", "") == "matched") s.recount_publishers();
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
    auto pending = std::make_unique<detail::PendingAttach>(topic, type, options, reader);
    pending->daemon = node.daemon();  // before the handler can run
    detail::PendingAttach* raw = pending.get();
    auto handle = detail::TopicHandle::open_or_wait(
        node, pending->request(),
        [raw](const nlohmann::json& event, std::vector<detail::UniqueFd>& fds) {
            detail::on_pending_event(*raw, event, fds);
        },
        pending->local_id);
    if (!handle) return std::move(handle).error();
    if (!handle->has_value()) return RawSubscriber(std::move(pending));  // waits for a publisher
    auto impl = detail::make_impl(
        std::move(**handle), topic, !reader.group.empty(),
        std::make_shared<detail::MatchedTracker>(std::string(topic), "publisher"));
    if (!impl) return std::move(impl).error();
    detail::SubscriberImpl* s = impl->get();
    node.daemon()->set_event_handler(
        s->topic.local_id(), [s](const nlohmann::json& event, std::vector<detail::UniqueFd>&) {
            detail::on_reader_event(*s, event);
        });
    // After the handler is in place: later changes come as events, earlier ones are in
    // the table counted here.
    s->recount_publishers();
    return RawSubscriber(std::move(impl).value());
}

RawSubscriber::RawSubscriber(std::unique_ptr<detail::SubscriberImpl> impl) noexcept
    : impl_(std::move(impl)) {}
RawSubscriber::RawSubscriber(std::unique_ptr<detail::PendingAttach> pending) noexcept
    : pending_(std::move(pending)) {}
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

bool RawSubscriber::adopt_attached() noexcept {
    detail::PendingAttach& p = *pending_;
    // Acquire: pairs with finish(); the reader built by the event handler is complete.
    if (p.state.load(std::memory_order_acquire) != detail::PendingAttach::kAttached) return false;
    impl_ = std::move(p.attached);
    impl_->strategy = p.strategy;  // set_wait_strategy() calls since the handler ran
    impl_->spin_budget_ns = p.spin_budget_ns;
    impl_->topic.own(p.local_id);
    p.adopted = true;
    return true;
}

bool RawSubscriber::is_attached() noexcept {
    return impl_ != nullptr || adopt_attached();
}

std::optional<Error> RawSubscriber::attach_error() const {
    if (impl_ != nullptr) return std::nullopt;
    // Acquire: pairs with finish(); `failure` was written before.
    if (pending_->state.load(std::memory_order_acquire) != detail::PendingAttach::kFailed) {
        return std::nullopt;
    }
    return pending_->failure;
}

namespace {

// What take() and take_copy() answer while the subscriber waits for its topic.
template <class T>
Expected<std::optional<T>, ReceiveError> while_waiting(const detail::PendingAttach& p) noexcept {
    if (p.state.load(std::memory_order_acquire) == detail::PendingAttach::kFailed) {
        return ReceiveError::incompatible_topic;
    }
    return std::optional<T>{};
}

}  // namespace

Expected<std::optional<RawSample>, ReceiveError> RawSubscriber::take() noexcept {
    if (impl_ == nullptr && !adopt_attached()) [[unlikely]] {
        return while_waiting<RawSample>(*pending_);
    }
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
    if (impl_ == nullptr && !adopt_attached()) [[unlikely]] {
        return while_waiting<SampleInfo>(*pending_);
    }
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
    const std::uint64_t budget =
        spin_budget.count() <= 0 ? 0 : static_cast<std::uint64_t>(spin_budget.count());
    if (pending_) {  // also carried over to a reader attached later
        pending_->strategy = strategy;
        pending_->spin_budget_ns = budget;
    }
    if (impl_) {
        impl_->strategy = strategy;
        impl_->spin_budget_ns = budget;
    }
}

namespace detail {
namespace {

std::uint64_t to_ns(std::chrono::nanoseconds timeout) noexcept {
    return timeout.count() <= 0 ? 0 : static_cast<std::uint64_t>(timeout.count());
}

WaitOutcome wait_on(const Readiness& readiness, WaitStrategy strategy, std::uint64_t spin_budget_ns,
                    std::uint64_t deadline) noexcept {
    const WaitTargets targets{std::span(&readiness, 1), {}, nullptr, 0};
    switch (strategy) {
        case WaitStrategy::busy_spin:
            return spin_until(targets, deadline, false);
        case WaitStrategy::spin_yield:
            return spin_until(targets, deadline, true);
        case WaitStrategy::spin_then_block:
            break;
    }
    const std::uint64_t spin_end = std::min(deadline, deadline_after(spin_budget_ns));
    if (spin_until(targets, spin_end, false) == WaitOutcome::ready) return WaitOutcome::ready;
    return block_until(targets, deadline);
}

}  // namespace
}  // namespace detail

detail::WaitOutcome RawSubscriber::wait_until(std::uint64_t deadline) noexcept {
    if (impl_ == nullptr && !adopt_attached()) {
        // Until the topic exists: the stand-in, which becomes ready when we attach.
        detail::PendingAttach& p = *pending_;
        const auto waited = detail::wait_on(p.standin, p.strategy, p.spin_budget_ns, deadline);
        if (waited != detail::WaitOutcome::ready) return waited;
        if (!adopt_attached()) return detail::WaitOutcome::ready;  // failed: take() says so
    }
    return detail::wait_on(impl_->readiness, impl_->strategy, impl_->spin_budget_ns, deadline);
}

bool RawSubscriber::wait(std::chrono::nanoseconds timeout) noexcept {
    return wait_until(detail::deadline_after(detail::to_ns(timeout))) == detail::WaitOutcome::ready;
}

namespace detail {
namespace {

// Blocking receive around any non-blocking one: `attempt` returns the message, nothing
// (std::nullopt: wait for more), or an error.
template <class T, class Attempt, class Wait>
Expected<T, ReceiveError> receive_with(Attempt attempt, Wait wait) noexcept {
    for (;;) {
        auto taken = attempt();
        if (!taken) return taken.error();
        if (taken->has_value()) return std::move(**taken);
        // Nothing (or only a skip or a torn message passed over): wait for more.
        switch (wait()) {
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
    const std::uint64_t deadline = detail::deadline_after(detail::to_ns(timeout));
    return detail::receive_with<RawSample>([this] { return take(); },
                                           [this, deadline] { return wait_until(deadline); });
}

Expected<SampleInfo, ReceiveError> RawSubscriber::receive_copy(
    std::span<std::byte> buffer, std::chrono::nanoseconds timeout) noexcept {
    const std::uint64_t deadline = detail::deadline_after(detail::to_ns(timeout));
    return detail::receive_with<SampleInfo>([this, buffer] { return take_copy(buffer); },
                                            [this, deadline] { return wait_until(deadline); });
}

Result<int> RawSubscriber::notification_fd() {
    if (pending_) {
        // Created while waiting: the eventfd is made now and the notification thread
        // starts when the topic is attached (on_attach_event), on the same eventfd.
        std::lock_guard lock(pending_->mutex);
        if (pending_->notify_event.valid()) return pending_->notify_event.get();
        if (pending_->state.load(std::memory_order_relaxed) == detail::PendingAttach::kWaiting) {
            detail::UniqueFd event(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
            if (!event.valid()) {
                return Error{ErrorCode::system_error,
                             std::string("eventfd: ") + std::strerror(errno)};
            }
            pending_->notify_event = std::move(event);
            return pending_->notify_event.get();
        }
        if (pending_->state.load(std::memory_order_relaxed) == detail::PendingAttach::kFailed) {
            return *pending_->failure;
        }
        (void)adopt_attached();  // attached: a notifier of its own, as below
    }
    if (!impl_->notifier) {
        auto notifier = detail::Notifier::start({impl_->readiness});
        if (!notifier) return std::move(notifier).error();
        impl_->notifier = std::move(notifier).value();
    }
    return impl_->notifier->fd();
}

std::uint64_t RawSubscriber::lost() const noexcept {
    if (!impl_) return 0;
    return impl_->group ? impl_->group->lost() : impl_->reader.lost();
}
std::uint64_t RawSubscriber::skipped() const noexcept {
    if (!impl_) return 0;
    return impl_->group ? impl_->group->skipped() : impl_->reader.skipped();
}
std::uint64_t RawSubscriber::next_sequence() const noexcept {
    if (!impl_) return 0;
    return impl_->group ? impl_->group->next() : impl_->reader.next();
}
std::size_t RawSubscriber::max_payload_size() const noexcept {
    // While waiting: the slot size asked for, which the topic must then have (0: any).
    return impl_ ? impl_->reader.view().slot_size : pending_->options.slot_size;
}
std::string_view RawSubscriber::topic() const noexcept {
    return impl_ ? std::string_view(impl_->name) : std::string_view(pending_->topic);
}

TypeInfo RawSubscriber::type() const noexcept {
    if (!impl_) return pending_->type;
    // The validated copy made when the topic was opened (never re-read from the segment).
    const detail::TopicIdentity& id = impl_->topic.identity();
    return TypeInfo{impl_->type_name, id.type_size, id.type_align, id.schema_hash};
}

detail::MatchedTracker& RawSubscriber::matched() const noexcept {
    return impl_ ? *impl_->matched : *pending_->matched;
}

std::size_t RawSubscriber::publisher_count() const {
    return matched().current();
}

Result<std::size_t> RawSubscriber::wait_for_publishers(std::size_t count,
                                                       std::chrono::milliseconds timeout) const {
    return matched().wait_for(count, timeout);
}

MatchedStatus RawSubscriber::matched_status() {
    return matched().take_status();
}

void RawSubscriber::set_matched_callback(MatchedCallback callback) {
    matched().set_callback(std::move(callback), impl_ ? *impl_->topic.daemon() : *pending_->daemon);
}

DeliveryMode RawSubscriber::mode() const noexcept {
    if (!impl_) return pending_->options.mode.value_or(DeliveryMode::overwrite);
    return impl_->reader.view().mode();
}

}  // namespace ipcbus
