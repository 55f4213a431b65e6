#include "ipcbus/publisher.hpp"

#include <sched.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "clock.hpp"
#include "ipc/futex.hpp"
#include "ring.hpp"
#include "topic_handle.hpp"

namespace ipcbus {
namespace detail {

struct PublisherImpl {
    TopicHandle topic;
    RingWriter writer;
    std::string name;
    std::uint32_t max_loans;
    std::uint32_t outstanding_loans = 0;
    // Where a loan writes when another publisher lapped its slot: the message is lost to
    // readers anyway (they count it), but the user's writes must land somewhere harmless.
    std::vector<std::byte> scratch;
    // Reliable mode: how long loan() waits for a free slot (max: for ever).
    std::uint64_t block_timeout_ns = UINT64_MAX;

    [[nodiscard]] bool owns_slot(std::uint64_t sequence) const noexcept {
        // Only this loan can have put BUSY|stamp(sequence) into the slot.
        const auto word = writer.view().slot(sequence).stamp.load(std::memory_order_relaxed);
        return word == (layout::kBusyBit | layout::stamp_of(sequence));
    }
};

namespace {

// How long a publisher facing a full ring spins before it sleeps: about the time a
// reader on another core needs to release a few messages, far below a sleep's cost.
constexpr int kSpinRounds = 64;
// Then it yields the CPU a few times: when readers share its core (more processes than
// cores), spinning would only keep them from freeing the space it waits for.
constexpr int kYieldRounds = 16;
// A sleeping publisher re-checks at least this often: readers wake publishers once per
// notify_batch() releases or when they run out of messages, so a reader that releases a
// few slots and then stops reading for a while (or dies in between) wakes nobody.
constexpr std::uint64_t kMaxSleepNs = 10'000'000;

// Reliable mode, ring full: spin, then sleep on the topic's space futex, until a slot
// frees or the publisher's timeout runs out.
ClaimStatus claim_blocking(PublisherImpl& p, std::uint64_t& sequence) noexcept {
    const std::uint64_t timeout = p.block_timeout_ns;
    if (timeout == 0) return ClaimStatus::full;
    const std::uint64_t start = monotonic_ns();
    const std::uint64_t deadline = timeout > UINT64_MAX - start ? UINT64_MAX : start + timeout;
    for (int round = 0; round < kSpinRounds + kYieldRounds; ++round) {
        if (round < kSpinRounds) {
            for (int i = 0; i < 16; ++i) cpu_relax();
        } else {
            ::sched_yield();
        }
        if (const ClaimStatus s = p.writer.claim(sequence); s != ClaimStatus::full) return s;
    }
    layout::TopicHeader& header = *p.writer.view().header;
    for (;;) {
        // seq_cst increment, then the re-check inside claim(): pairs with notify_space()'s
        // fence on the reader's side (either we see its release, or it sees us waiting).
        header.publishers_waiting.fetch_add(1, std::memory_order_seq_cst);
        const std::uint32_t generation = header.space_futex.load(std::memory_order_seq_cst);
        const ClaimStatus s = p.writer.claim(sequence);
        const std::uint64_t now = monotonic_ns();
        if (s == ClaimStatus::full && now < deadline) {
            futex_wait(header.space_futex, generation, std::min(deadline - now, kMaxSleepNs));
        }
        header.publishers_waiting.fetch_sub(1, std::memory_order_relaxed);
        if (s != ClaimStatus::full || now >= deadline) return s;
    }
}

}  // namespace

void abandon_loan(PublisherImpl* owner, std::uint64_t sequence) noexcept {
    --owner->outstanding_loans;
    if (owner->owns_slot(sequence)) owner->writer.abandon(sequence);
}

}  // namespace detail

Result<RawPublisher> RawPublisher::create(const Node& node, std::string_view topic,
                                          const TopicOptions& options, const TypeInfo& type) {
    auto handle = detail::TopicHandle::open(node, detail::TopicRequest{topic, type, options, {}},
                                            detail::protocol::Role::publisher);
    if (!handle) return std::move(handle).error();
    const detail::SegmentView view = handle->view();
    const std::uint32_t id = handle->index();
    // A publisher holding more loans than half the ring could lap its own busy slots.
    const std::uint32_t max_loans = std::clamp<std::uint32_t>(view.header->capacity / 2, 1, 64);
    // Brace-initialised through new: clang before 16 lacks parenthesised aggregate init.
    std::unique_ptr<detail::PublisherImpl> impl(new detail::PublisherImpl{
        std::move(handle).value(), detail::RingWriter(view, id), std::string(topic), max_loans, 0U,
        std::vector<std::byte>(view.slot_size)});
    return RawPublisher(std::move(impl));
}

RawPublisher::RawPublisher(std::unique_ptr<detail::PublisherImpl> impl) noexcept
    : impl_(std::move(impl)) {}
RawPublisher::RawPublisher(RawPublisher&&) noexcept = default;
RawPublisher& RawPublisher::operator=(RawPublisher&&) noexcept = default;
RawPublisher::~RawPublisher() = default;

Expected<RawLoan, LoanError> RawPublisher::loan(std::size_t size) noexcept {
    detail::PublisherImpl& p = *impl_;
    if (size > p.writer.view().slot_size) return LoanError::payload_too_large;
    if (p.outstanding_loans >= p.max_loans) return LoanError::too_many_loans;
    std::uint64_t sequence = 0;
    detail::ClaimStatus status = p.writer.claim(sequence);
    if (status == detail::ClaimStatus::full) status = detail::claim_blocking(p, sequence);
    if (status == detail::ClaimStatus::full) return LoanError::would_block;
    const bool claimed = status == detail::ClaimStatus::claimed;
    std::byte* data = claimed ? p.writer.view().payload(sequence) : p.scratch.data();
    ++p.outstanding_loans;
    return RawLoan(&p, data, sequence, size, p.writer.view().slot_size);
}

std::uint64_t RawPublisher::publish(RawLoan&& loan) noexcept {
    detail::PublisherImpl& p = *impl_;
    const std::uint64_t sequence = loan.sequence_;
    const bool lapped = loan.data_ == p.scratch.data();
    loan.owner_ = nullptr;  // consumed: its destructor must not abandon it
    --p.outstanding_loans;
    if (!lapped)
        p.writer.commit(sequence, loan.size_, p.writer.publisher_id(), detail::monotonic_ns(),
                        loan.origin_sequence_);
    return sequence;
}

Expected<std::uint64_t, LoanError> RawPublisher::send(std::span<const std::byte> bytes) noexcept {
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

void RawPublisher::set_block_timeout(std::chrono::nanoseconds timeout) noexcept {
    impl_->block_timeout_ns =
        timeout.count() <= 0 ? 0 : static_cast<std::uint64_t>(timeout.count());
}

DeliveryMode RawPublisher::mode() const noexcept {
    return impl_->writer.reliable() ? DeliveryMode::reliable : DeliveryMode::overwrite;
}

std::size_t RawPublisher::subscriber_count() const noexcept {
    const detail::SegmentView& view = impl_->writer.view();
    std::size_t active = 0;
    for (std::uint32_t i = 0; i < view.max_readers; ++i) {
        // Relaxed: a snapshot for the caller; it orders nothing.
        const auto state = view.readers[i].state.load(std::memory_order_relaxed);
        active += state == static_cast<std::uint32_t>(layout::ReaderState::active) ? 1 : 0;
    }
    return active;
}

}  // namespace ipcbus
