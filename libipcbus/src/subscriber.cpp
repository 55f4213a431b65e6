#include "ipcbus/subscriber.hpp"

#include <unistd.h>

#include <cstring>

#include "ring.hpp"
#include "topic_handle.hpp"

namespace ipcbus {
namespace detail {

struct SubscriberImpl {
    TopicHandle topic;  // closing it makes the daemon free our reader-table row
    RingReader reader;
    std::string name;
};

namespace {

SampleInfo info_of(const Polled& m) noexcept {
    return SampleInfo{m.sequence, m.timestamp_ns, m.size, m.publisher_id};
}

}  // namespace
}  // namespace detail

Result<RawSubscriber> RawSubscriber::create(const Node& node, std::string_view topic,
                                            const TopicOptions& options, const TypeInfo& type) {
    auto handle = detail::TopicHandle::open(node, detail::TopicRequest{topic, type, options},
                                            detail::protocol::Role::subscriber);
    if (!handle) return std::move(handle).error();
    const detail::SegmentView view = handle->view();
    // The daemon claimed this row for us and set its cursor to where we start.
    layout::ReaderEntry* entry = &view.readers[handle->index()];
    const std::uint64_t start = entry->cursor.load(std::memory_order_relaxed);
    // Brace-initialised through new: clang before 16 lacks parenthesised aggregate init.
    std::unique_ptr<detail::SubscriberImpl> impl(new detail::SubscriberImpl{
        std::move(handle).value(), detail::RingReader(view, start, entry), std::string(topic)});
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
    return impl_->name;
}

}  // namespace ipcbus
