// Segments as memfds: what a client does with a descriptor that does not hold a proper
// segment (another program's memory, a truncated or foreign-version segment).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "ipc/memfd_segment.hpp"

namespace ipcbus::detail {
namespace {

TopicRequest request_for(const char* topic) {
    TopicRequest r{topic, raw_bytes_type, {}};
    r.options.capacity = 16;
    r.options.slot_size = 64;
    r.options.max_readers = 4;
    return r;
}

// A memfd holding exactly `bytes`.
UniqueFd memfd_with(const std::vector<std::byte>& bytes) {
    UniqueFd fd(::memfd_create("test", MFD_CLOEXEC));
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(::write(fd.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    return fd;
}

// The bytes of a freshly created, valid segment.
std::vector<std::byte> valid_bytes(const TopicRequest& request) {
    auto g = plan_segment(request);
    auto seg = MappedSegment::create(request, *g);
    EXPECT_TRUE(seg);
    std::vector<std::byte> bytes(seg->size());
    EXPECT_EQ(::pread(seg->fd(), bytes.data(), bytes.size(), 0),
              static_cast<ssize_t>(bytes.size()));
    return bytes;
}

void expect_error(const Result<MappedSegment>& r, ErrorCode code, const char* words) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("memfd/topic"), std::string::npos) << r.error().message;
}

TEST(MemfdSegment, createdSegmentMapsAgainInAnotherMapping) {
    const auto request = request_for("memfd/topic");
    auto seg = MappedSegment::create(request, *plan_segment(request));
    ASSERT_TRUE(seg) << seg.error().message;
    auto again = MappedSegment::map(UniqueFd(::dup(seg->fd())), "memfd/topic");
    ASSERT_TRUE(again) << again.error().message;
    seg->view().header->write_cursor.store(42);
    EXPECT_EQ(again->view().header->write_cursor.load(), 42U);  // the same memory
}

TEST(MemfdSegment, createdSegmentCannotBeShrunk) {
    const auto request = request_for("memfd/topic");
    auto seg = MappedSegment::create(request, *plan_segment(request));
    ASSERT_TRUE(seg);
    EXPECT_NE(::ftruncate(seg->fd(), 4096), 0) << "a shrinkable segment means SIGBUS for readers";
}

TEST(MemfdSegment, memoryOfAnotherProgramIsRefused) {
    expect_error(MappedSegment::map(memfd_with(std::vector<std::byte>(8192, std::byte{0x5a})),
                                    "memfd/topic"),
                 ErrorCode::not_a_segment, "not an ipcbus segment");
}

TEST(MemfdSegment, truncatedSegmentIsRefused) {
    auto bytes = valid_bytes(request_for("memfd/topic"));
    bytes.resize(bytes.size() / 2);
    expect_error(MappedSegment::map(memfd_with(bytes), "memfd/topic"), ErrorCode::corrupt_segment,
                 "truncated");
    expect_error(MappedSegment::map(memfd_with(std::vector<std::byte>(100)), "memfd/topic"),
                 ErrorCode::corrupt_segment, "truncated");
}

TEST(MemfdSegment, segmentOfAnotherLayoutVersionIsRefused) {
    auto bytes = valid_bytes(request_for("memfd/topic"));
    const std::uint32_t future = layout::kLayoutVersion + 1;
    std::memcpy(bytes.data() + offsetof(layout::TopicHeader, layout_version), &future,
                sizeof future);
    expect_error(MappedSegment::map(memfd_with(bytes), "memfd/topic"), ErrorCode::version_mismatch,
                 "layout version 3");
}

TEST(MemfdSegment, segmentOfAnotherTopicIsRefused) {
    auto bytes = valid_bytes(request_for("memfd/other"));
    expect_error(MappedSegment::map(memfd_with(bytes), "memfd/topic"), ErrorCode::corrupt_segment,
                 "another topic");
}

}  // namespace
}  // namespace ipcbus::detail
