// SPDX-License-Identifier: Apache-2.0
#include "ipcbus/publisher.hpp"

#include <sched.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "clock.hpp"
#include "ipc/futex.hpp"
#include "ipc/membarrier.hpp"
#include "matched_tracker.hpp"
#include "ring.hpp"
#include "topic_handle.hpp"

namespace ipcbus {
namespace detail {
namespace {

// Private buffers a publisher of an inline topic may lend out at once.
constexpr std::uint32_t kMaxInlineLoans = 32;
// How long a publisher facing a full ring spins before it sleeps: about the time a reader
// on another core needs to release a few messages, far below a sleep's cost.
constexpr int kSpinRounds = 64;
// Then it yields the CPU a few times: when readers share its core (more processes than
// cores), spinning would only keep them from freeing the space it waits for.
constexpr int kYieldRounds = 16;
// A sleeping publisher re-checks at least this often: readers wake publishers once per
// eighth of a ring or when they run out of messages, so a reader that releases a few
// frames and then stops reading for a while (or dies in between) wakes nobody.
constexpr std::uint64_t kMaxSleepNs = 10'000'000;
// Without a word to sleep on (the gating reader's segment is not mapped yet), or without
// membarrier to order the readers' releases, a sleeping publisher looks again this often.
constexpr std::uint64_t kBlindSleepNs = 1'000'000;

}  // namespace

// Outside the anonymous namespace: PublisherImpl holds one (and, in a unity build, is
// no longer in the main file, where a member of internal type would be fine).
struct FreeDeleter {
    void operator()(std::byte* p) const noexcept { std::free(p); }
};

struct PublisherImpl {
    PublisherImpl(TopicHandle handle, std::string topic_name)
        : topic(std::move(handle)),
          name(std::move(topic_name)),
          readers(topic.view()),
          entry(&topic.view().publishers[topic.entry()]),
          writer(topic.view(), topic.index(), entry, readers, topic.daemon()->clock()),
          matched(std::make_shared<MatchedTracker>(name, "subscriber")) {
        const SegmentView& view = topic.view();
        if (view.pooled()) {
            pool.emplace(view, topic.index(), readers);
            max_loans = view.max_pool_loans;
        } else {
            max_loans = kMaxInlineLoans;
            stride =
                layout::round_up(std::max<std::uint64_t>(view.slot_size, 1), layout::kCacheLine);
            staging.reset(static_cast<std::byte*>(
                std::aligned_alloc(layout::kCacheLine, stride * max_loans)));
            free_staging = max_loans == 32 ? ~0U : (1U << max_loans) - 1;
        }
    }
    PublisherImpl(const PublisherImpl&) = delete;
    PublisherImpl& operator=(const PublisherImpl&) = delete;
    ~PublisherImpl() {
        // No event may reach us once we start going away (the handler points at us).
        topic.daemon()->set_event_handler(topic.local_id(), nullptr);
        matched->stop();
    }

    void on_event(const nlohmann::json& event, std::vector<UniqueFd>& fds);

    TopicHandle topic;
    std::string name;
    ReaderSet readers;
    layout::PublisherEntry* entry;
    RingWriter writer;
    std::optional<PoolWriter> pool;
    std::shared_ptr<MatchedTracker> matched;  // shared with callbacks posted to the client
    std::uint32_t max_loans = 0;
    std::uint32_t outstanding_loans = 0;
    // Inline topics: the private buffers loans are built in (bit k of free_staging: the
    // k-th is free), each `stride` bytes.
    std::unique_ptr<std::byte, FreeDeleter> staging;
    std::uint64_t stride = 0;
    std::uint32_t free_staging = 0;
    // Reliable mode: how long a publish (or a pool loan) waits for space (max: for ever).
    std::uint64_t block_timeout_ns = UINT64_MAX;
};

// From the daemon connection's thread: a reader's or group's segment, or a change of the
// topic's readers.
void PublisherImpl::on_event(const nlohmann::json& event, std::vector<UniqueFd>& fds) {
    const auto kind = event.find("event");
    if (kind != event.end() && *kind == "matched") {
        matched->update(readers.readers(), *topic.daemon());
        return;
    }
    if (kind == event.end() || *kind != "reader" || fds.empty()) return;
    auto index = protocol::get_uint(event, "index", topic.view().max_readers - 1);
    auto generation = protocol::get_uint(event, "generation");
    if (!index || !generation) return;
    auto memory = SharedMemory::map(std::move(fds[0]), false, false, name);
    if (!memory || memory->size() < layout::kReaderSegmentSize) return;
    const void* base = memory->bytes().data();
    readers.offer(static_cast<std::uint32_t>(*index), *generation, base,
                  std::make_shared<SharedMemory>(std::move(memory).value()));
}

void abandon_loan(PublisherImpl* owner, std::uint32_t token, std::uint64_t generation) noexcept {
    --owner->outstanding_loans;
    // Relaxed: statistics for observers.
    owner->entry->loans.store(owner->outstanding_loans, std::memory_order_relaxed);
    if (owner->pool) {
        owner->pool->give_back(BufferLoan{token, generation});
        owner->entry->pool_loans.store(owner->outstanding_loans, std::memory_order_relaxed);
    } else {
        owner->free_staging |= 1U << token;
    }
}

namespace {

// Reliable mode, ring (or pool) full: spin, then sleep until `attempt` succeeds or the
// publisher's timeout runs out. `attempt` returns true when it is done.
template <class Attempt>
bool wait_for_space(PublisherImpl& p, Attempt attempt) noexcept {
    const std::uint64_t timeout = p.block_timeout_ns;
    if (timeout == 0) return false;
    // The clock is read only once spinning failed: a streaming publisher finds the ring
    // full on most messages, and a clock read costs as much as the publish itself. The
    // timeout counts from then (spinning takes microseconds).
    for (int round = 0; round < kSpinRounds + kYieldRounds; ++round) {
        if (round < kSpinRounds) {
            for (int i = 0; i < 16; ++i) cpu_relax();
        } else {
            ::sched_yield();
        }
        if (attempt()) return true;
    }
    const std::uint64_t start = monotonic_ns();
    const std::uint64_t deadline = timeout > UINT64_MAX - start ? UINT64_MAX : start + timeout;
    layout::TopicHeader& header = *p.writer.view().header;
    // Relaxed: statistics for observers (ipcbus info: who is held back since when).
    p.entry->blocked_since_ns.store(start, std::memory_order_relaxed);
    bool done = false;
    for (;;) {
        // seq_cst increment, then the membarrier: readers' stores of their released
        // position before it are visible to the re-check below, and their loads of the
        // count after it see it raised (so they wake us): either we see the space, or
        // they see us waiting (ring_reader.cpp, HeldSet::publish).
        header.space_waiters.fetch_add(1, std::memory_order_seq_cst);
        const bool fenced = heavy_fence();
        const std::atomic<std::uint32_t>* gate = p.readers.gate_futex();
        const std::uint32_t generation =
            gate != nullptr ? gate->load(std::memory_order_seq_cst) : 0;
        done = attempt();
        const std::uint64_t now = monotonic_ns();
        if (!done && now < deadline) {
            const std::uint64_t slice = fenced && gate != nullptr ? kMaxSleepNs : kBlindSleepNs;
            const std::uint64_t sleep = std::min(deadline - now, slice);
            if (gate != nullptr) {
                futex_wait(*gate, generation, sleep);
            } else {
                const std::atomic<std::uint32_t> nobody{0};
                futex_wait(nobody, 0, sleep);
            }
        }
        header.space_waiters.fetch_sub(1, std::memory_order_relaxed);
        if (done || now >= deadline) break;
    }
    p.entry->blocked_since_ns.store(0, std::memory_order_relaxed);
    return done;
}

LoanError to_loan_error(PublishStatus status) noexcept {
    return status == PublishStatus::full ? LoanError::would_block : LoanError::expired;
}

// Publishes (waiting for space in reliable mode) what `payload`/`meta` describe.
Expected<std::uint64_t, LoanError> publish_message(PublisherImpl& p,
                                                   std::span<const std::byte> payload,
                                                   const MessageMeta& meta) noexcept {
    std::uint64_t sequence = 0;
    PublishStatus status = p.writer.publish(payload, meta, sequence);
    if (status == PublishStatus::full) {
        wait_for_space(p, [&] {
            status = p.writer.publish(payload, meta, sequence);
            return status != PublishStatus::full;
        });
    }
    if (status != PublishStatus::published) return to_loan_error(status);
    return sequence;
}

}  // namespace
}  // namespace detail

Result<RawPublisher> RawPublisher::create(const Node& node, std::string_view topic,
                                          const TopicOptions& options, const TypeInfo& type) {
    auto handle = detail::TopicHandle::open(node, detail::TopicRequest{topic, type, options, {}},
                                            detail::protocol::Role::publisher);
    if (!handle) return std::move(handle).error();
    const bool revoking = handle->exclusive() == "revoking";
    std::unique_ptr<detail::PublisherImpl> impl;
    try {
        impl =
            std::make_unique<detail::PublisherImpl>(std::move(handle).value(), std::string(topic));
    } catch (const std::bad_alloc&) {
        return Error{ErrorCode::resource_exhausted,
                     "topic '" + std::string(topic) + "': out of memory"};
    }
    if (!impl->pool && !impl->staging) {
        return Error{ErrorCode::resource_exhausted,
                     "topic '" + std::string(topic) + "': cannot allocate the publisher's buffers"};
    }
    detail::PublisherImpl* p = impl.get();
    node.daemon()->set_event_handler(
        p->topic.local_id(), [p](const nlohmann::json& event, std::vector<detail::UniqueFd>& fds) {
            p->on_event(event, fds);
        });
    // The readers' segments, now and as they come (events).
    if (auto ok = node.daemon()->subscribe_roster(p->topic.local_id()); !ok) return ok.error();
    // After the handler is in place: a change from now on reaches it as an event, and
    // one made before is in the tables counted here.
    p->matched->update(p->readers.readers(), *p->topic.daemon());
    if (revoking) {
        // The topic had a lone publisher on the exclusive fast path, and it is inside a
        // publish right now (or stopped there): the daemon revokes the path once it is out.
        auto& word = p->topic.view().header->exclusive;
        const std::uint64_t deadline = detail::monotonic_ns() + 2'000'000'000ULL;
        for (;;) {
            const std::uint32_t now = word.load(std::memory_order_seq_cst);
            if ((now & ~layout::kExclusiveIdMask) != layout::kExclusiveRevoke) break;
            const std::uint64_t t = detail::monotonic_ns();
            if (t >= deadline) {
                return Error{ErrorCode::timeout,
                             "topic '" + std::string(topic) + "': its publisher (id " +
                                 std::to_string(now & layout::kExclusiveIdMask) +
                                 ") publishes alone on the exclusive fast path and did not give "
                                 "it up within 2 s (is its process stopped?)"};
            }
            detail::futex_wait(word, now, std::min<std::uint64_t>(deadline - t, 10'000'000));
        }
    }
    return RawPublisher(std::move(impl));
}

RawPublisher::RawPublisher(std::unique_ptr<detail::PublisherImpl> impl) noexcept
    : impl_(std::move(impl)) {}
RawPublisher::RawPublisher(RawPublisher&&) noexcept = default;
RawPublisher& RawPublisher::operator=(RawPublisher&&) noexcept = default;
RawPublisher::~RawPublisher() = default;

Expected<RawLoan, LoanError> RawPublisher::loan(std::size_t size) noexcept {
    detail::PublisherImpl& p = *impl_;
    const detail::SegmentView& view = p.writer.view();
    if (size > view.slot_size) return LoanError::payload_too_large;
    if (p.outstanding_loans >= p.max_loans) return LoanError::too_many_loans;
    std::byte* data = nullptr;
    std::uint32_t token = 0;
    std::uint64_t generation = 0;
    if (p.pool) {
        std::optional<detail::BufferLoan> buffer = p.pool->take();
        if (!buffer) {
            detail::wait_for_space(p, [&] {
                buffer = p.pool->take();
                return buffer.has_value();
            });
        }
        if (!buffer) return LoanError::would_block;
        data = view.buffer(buffer->index);
        token = buffer->index;
        generation = buffer->generation;
    } else {
        token = static_cast<std::uint32_t>(std::countr_zero(p.free_staging));
        p.free_staging &= ~(1U << token);
        data = p.staging.get() + token * p.stride;
    }
    ++p.outstanding_loans;
    // Relaxed: statistics for observers.
    p.entry->loans.store(p.outstanding_loans, std::memory_order_relaxed);
    if (p.pool) p.entry->pool_loans.store(p.outstanding_loans, std::memory_order_relaxed);
    return RawLoan(&p, data, size, view.slot_size, token, generation);
}

Expected<std::uint64_t, LoanError> RawPublisher::publish(RawLoan&& loan) noexcept {
    detail::PublisherImpl& p = *impl_;
    if (loan.owner_ != &p) return LoanError::invalid_loan;
    detail::MessageMeta meta;
    meta.size = loan.size_;
    meta.origin_sequence = loan.origin_sequence_;
    std::span<const std::byte> payload{};
    if (p.pool) {
        meta.buffer = loan.token_;
        meta.buffer_generation = loan.generation_;
    } else {
        payload = {loan.data_, loan.size_};
    }
    auto published = detail::publish_message(p, payload, meta);
    if (!published) return published.error();  // the loan stays the caller's
    if (p.pool) {
        p.pool->committed(detail::BufferLoan{loan.token_, loan.generation_}, *published);
    } else {
        p.free_staging |= 1U << loan.token_;
    }
    loan.owner_ = nullptr;  // consumed: its destructor must not give it back
    --p.outstanding_loans;
    p.entry->loans.store(p.outstanding_loans, std::memory_order_relaxed);
    if (p.pool) p.entry->pool_loans.store(p.outstanding_loans, std::memory_order_relaxed);
    return published;
}

Expected<std::uint64_t, LoanError> RawPublisher::send(std::span<const std::byte> bytes) noexcept {
    detail::PublisherImpl& p = *impl_;
    if (bytes.size() > p.writer.view().slot_size) return LoanError::payload_too_large;
    if (!p.pool) {
        // Straight into the frame: no private buffer in between.
        detail::MessageMeta meta;
        meta.size = bytes.size();
        return detail::publish_message(p, bytes, meta);
    }
    auto loan = this->loan(bytes.size());
    if (!loan) return loan.error();
    if (!bytes.empty()) std::memcpy(loan->data().data(), bytes.data(), bytes.size());
    return publish(std::move(*loan));
}

std::size_t RawPublisher::max_payload_size() const noexcept {
    return impl_->writer.view().slot_size;
}
std::string_view RawPublisher::topic() const noexcept {
    return impl_->name;
}
std::uint32_t RawPublisher::id() const noexcept {
    return impl_->writer.publisher_id();
}
std::size_t RawPublisher::max_loans() const noexcept {
    return impl_->max_loans;
}

void RawPublisher::set_block_timeout(std::chrono::nanoseconds timeout) noexcept {
    impl_->block_timeout_ns =
        timeout.count() <= 0 ? 0 : static_cast<std::uint64_t>(timeout.count());
}

DeliveryMode RawPublisher::mode() const noexcept {
    return impl_->writer.reliable() ? DeliveryMode::reliable : DeliveryMode::overwrite;
}

std::size_t RawPublisher::subscriber_count() const noexcept {
    return impl_->readers.readers();
}

Result<std::size_t> RawPublisher::wait_for_subscribers(std::size_t count,
                                                       std::chrono::milliseconds timeout) const {
    return impl_->matched->wait_for(count, timeout);
}

MatchedStatus RawPublisher::matched_status() {
    return impl_->matched->take_status();
}

void RawPublisher::set_matched_callback(MatchedCallback callback) {
    impl_->matched->set_callback(std::move(callback), *impl_->topic.daemon());
}

}  // namespace ipcbus
