// SPDX-License-Identifier: Apache-2.0
// Topics as memfds: what a client does with descriptors that do not hold a proper topic
// (another program's memory, a truncated or foreign-version segment), and what keeps a
// subscriber from writing messages.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
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

std::vector<std::byte> contents(int fd) {
    std::vector<std::byte> bytes(static_cast<std::size_t>(::lseek(fd, 0, SEEK_END)));
    EXPECT_EQ(::pread(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    return bytes;
}

// The bytes of a freshly created, valid topic.
std::vector<std::byte> valid_bytes(const TopicRequest& request) {
    auto seg = TopicSegment::create(request, *plan_segment(request));
    EXPECT_TRUE(seg);
    return contents(seg->fd());
}

Result<TopicSegment> map_bytes(const std::vector<std::byte>& b, const char* topic = "memfd/topic") {
    return TopicSegment::map(memfd_with(b), topic, false);
}

void expect_error(const Result<TopicSegment>& r, ErrorCode code, const std::string& words) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("memfd/topic"), std::string::npos) << r.error().message;
}

TEST(MemfdSegment, createdTopicMapsAgainInAnotherMapping) {
    const auto request = request_for("memfd/topic");
    auto seg = TopicSegment::create(request, *plan_segment(request));
    ASSERT_TRUE(seg) << seg.error().message;
    auto again = TopicSegment::map(UniqueFd(::dup(seg->fd())), "memfd/topic", true);
    ASSERT_TRUE(again) << again.error().message;
    seg->view().header->write_cursor.store(42);
    EXPECT_EQ(again->view().header->write_cursor.load(), 42U);  // the same memory
    seg->view().frame(3).size.store(7);
    EXPECT_EQ(again->view().frame(3).size.load(), 7U);
}

TEST(MemfdSegment, createdSegmentsCannotBeShrunk) {
    auto memory = SharedMemory::create("memfd/topic:reader", 4096, "memfd/topic");
    ASSERT_TRUE(memory);
    EXPECT_NE(::ftruncate(memory->fd(), 100), 0) << "shrinkable: SIGBUS for whoever maps it";
    const auto request = request_for("memfd/topic");
    auto seg = TopicSegment::create(request, *plan_segment(request));
    ASSERT_TRUE(seg);
    EXPECT_NE(::ftruncate(seg->fd(), 100), 0) << "shrinkable: SIGBUS for readers";
}

TEST(MemfdSegment, readOnlyDescriptorsCannotBeMappedOrReopenedWritable) {
    const auto request = request_for("memfd/topic");
    auto seg = TopicSegment::create(request, *plan_segment(request));
    ASSERT_TRUE(seg);
    auto read_only = seg->memory().read_only_fd();
    ASSERT_TRUE(read_only) << read_only.error().message;
    EXPECT_EQ(::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, read_only->get(), 0),
              MAP_FAILED);
    EXPECT_EQ(errno, EACCES);
    // Not even through /proc/self/fd: the inode is read-only (root is exempt, so check it
    // as another uid).
    const std::string path = "/proc/self/fd/" + std::to_string(read_only->get());
    const pid_t child = ::fork();
    if (child == 0) {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(90);
        const int fd = ::open(path.c_str(), O_RDWR);
        ::_exit(fd < 0 && errno == EACCES ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST(MemfdSegment, memoryOfAnotherProgramIsRefused) {
    expect_error(map_bytes(std::vector<std::byte>(8192, std::byte{0x5a})), ErrorCode::not_a_segment,
                 "not an ipcbus topic segment");
}

TEST(MemfdSegment, truncatedSegmentIsRefused) {
    auto bytes = valid_bytes(request_for("memfd/topic"));
    bytes.resize(bytes.size() / 2);
    expect_error(map_bytes(bytes), ErrorCode::corrupt_segment, "truncated");
    bytes.resize(100);
    expect_error(map_bytes(bytes), ErrorCode::corrupt_segment, "truncated");
    bytes.clear();
    expect_error(map_bytes(bytes), ErrorCode::corrupt_segment, "truncated");
}

TEST(MemfdSegment, segmentOfAnotherLayoutVersionIsRefused) {
    auto bytes = valid_bytes(request_for("memfd/topic"));
    const std::uint32_t future = layout::kLayoutVersion + 1;
    std::memcpy(bytes.data() + offsetof(layout::TopicHeader, layout_version), &future,
                sizeof future);
    expect_error(map_bytes(bytes), ErrorCode::version_mismatch,
                 "layout version " + std::to_string(future));
}

TEST(MemfdSegment, segmentOfAnotherTopicIsRefused) {
    expect_error(map_bytes(valid_bytes(request_for("memfd/other"))), ErrorCode::corrupt_segment,
                 "another topic");
}

}  // namespace
}  // namespace ipcbus::detail
