#include "ipcbus/subscriber.hpp"

#include <unistd.h>

#include <cstring>

#include "names.hpp"
#include "ring.hpp"
#include "shared_segment.hpp"

namespace ipcbus {
namespace detail {

struct SubscriberImpl {
    SharedSegment segment;
    layout::ReaderEntry* entry;
    RingReader reader;
    std::string topic;

    ~SubscriberImpl() {
        // Release: our last statistics stores happen-before a new owner's claim.
        if (entry != nullptr) {
            entry->state.store(static_cast<std::uint32_t>(layout::ReaderState::free),
                               std::memory_order_release);
        }
    }
};

namespace {

// Takes a free row of the reader table, or returns null when all are in use.
layout::ReaderEntry* claim_reader_entry(const SegmentView& view, std::uint64_t start) {
    for (std::uint32_t i = 0; i < view.max_readers; ++i) {
        layout::ReaderEntry& entry = view.readers[i];
        auto expected = static_cast<std::uint32_t>(layout::ReaderState::free);
        // Acquire: see the previous owner's final stores before we reset the row.
        if (entry.state.compare_exchange_strong(
                expected, static_cast<std::uint32_t>(layout::ReaderState::active),
                std::memory_order_acquire, std::memory_order_relaxed)) {
            entry.pid = static_cast<std::int32_t>(::getpid());
            entry.cursor.store(start, std::memory_order_relaxed);
            entry.lost.store(0, std::memory_order_relaxed);
            entry.skipped.store(0, std::memory_order_relaxed);
            return &entry;
        }
    }
    return nullptr;
}

SampleInfo info_of(const Polled& m) noexcept {
    return SampleInfo{m.sequence, m.timestamp_ns, m.size, m.publisher_id};
}

}  // namespace
}  // namespace detail

Result<RawSubscriber> RawSubscriber::create(const Node& node, std::string_view topic,
                                            const TopicOptions& options, const TypeInfo& type) {
    if (auto ok = detail::validate_topic_name(topic); !ok) return std::move(ok).error();
    const detail::TopicRequest request{topic, type, options};
    auto segment =
        detail::SharedSegment::open_or_create(detail::segment_name(node.domain(), topic), request);
    if (!segment) return std::move(segment).error();
    const detail::SegmentView view = segment->view();
    // Relaxed: a new reader starts after whatever was claimed before it attached.
    const std::uint64_t start = view.header->write_cursor.load(std::memory_order_relaxed);
    layout::ReaderEntry* entry = detail::claim_reader_entry(view, start);
    if (entry == nullptr) {
        return Error{ErrorCode::resource_exhausted,
                     "topic '" + std::string(topic) + "': reader table full (" +
                         std::to_string(view.max_readers) + " readers)"};
    }
    auto impl = std::make_unique<detail::SubscriberImpl>(std::move(segment).value(), entry,
                                                         detail::RingReader(view, start, entry),
                                                         std::string(topic));
    return RawSubscriber(std::move(impl));
}

RawSubscriber::RawSubscriber(std::unique_ptr<detail::SubscriberImpl> impl) noexcept
    : impl_(std::move(impl)) {}
RawSubscriber::RawSubscriber(RawSubscriber&&) noexcept = default;
RawSubscriber& RawSubscriber::operator=(RawSubscriber&&) noexcept = default;
RawSubscriber::~RawSubscriber() = default;

Expected<std::optional<RawSample>, ReceiveError> RawSubscriber::take() noexcept {
    detail::Polled m{};
    switch (impl_->reader.poll(m)) {
        case detail::PollStatus::empty:
            return std::optional<RawSample>{};
        case detail::PollStatus::corrupt:
            return ReceiveError::corrupt_slot;
        case detail::PollStatus::message:
            break;
    }
    return std::optional<RawSample>(
        RawSample(&m.slot->stamp, m.stamp, m.payload, detail::info_of(m)));
}

Expected<std::optional<SampleInfo>, ReceiveError> RawSubscriber::take_copy(
    std::span<std::byte> buffer) noexcept {
    detail::RingReader& reader = impl_->reader;
    if (buffer.size() < reader.view().slot_size) return ReceiveError::buffer_too_small;
    for (;;) {
        detail::Polled m{};
        switch (reader.poll(m)) {
            case detail::PollStatus::empty:
                return std::optional<SampleInfo>{};
            case detail::PollStatus::corrupt:
                return ReceiveError::corrupt_slot;
            case detail::PollStatus::message:
                break;
        }
        std::memcpy(buffer.data(), m.payload, m.size);
        if (!detail::RingReader::overwritten(m))
            return std::optional<SampleInfo>(detail::info_of(m));
        reader.count_lost(1);  // torn copy: the message is gone, try the next one
    }
}

std::uint64_t RawSubscriber::lost() const noexcept {
    return impl_->reader.lost();
}
std::uint64_t RawSubscriber::skipped() const noexcept {
    return impl_->reader.skipped();
}
std::uint64_t RawSubscriber::next_sequence() const noexcept {
    return impl_->reader.next();
}
std::size_t RawSubscriber::max_payload_size() const noexcept {
    return impl_->reader.view().slot_size;
}
std::string_view RawSubscriber::topic() const noexcept {
    return impl_->topic;
}

}  // namespace ipcbus
