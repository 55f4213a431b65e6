// SPDX-License-Identifier: Apache-2.0
// Pins the binary shape of every shared-memory structure. If a test here fails, the
// layout changed: bump layout::kLayoutVersion, update the expected values, and regenerate
// the golden dump (IPCBUS_WRITE_GOLDEN=1 test_layout).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "heap_segment.hpp"
#include "layout/segment_layout.hpp"

namespace ipcbus::layout {
namespace {

constexpr const char* kBump = "layout changed: bump kLayoutVersion and update this test";

TEST(SegmentLayout, topicHeaderShapeIsPinned) {
    EXPECT_EQ(kLayoutVersion, 7U) << kBump;
    EXPECT_EQ(kTopicMagic, 0x3153554243504921ULL) << kBump;
    EXPECT_EQ(sizeof(TopicHeader), 768U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, layout_version), 8U) << "the version probe must never move";
    EXPECT_EQ(offsetof(TopicHeader, capacity), 24U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, mode), 36U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, slot_size), 40U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, user_header_size), 56U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, pool_buffers), 60U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, history_depth), 72U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, unblock_timeout_ns), 80U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, type_size), 128U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, topic_name), 208U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, type_name), 336U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, write_cursor), 512U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, exclusive), 576U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, roster_generation), 584U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, rows_in_use), 592U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, data_futex), 640U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, space_waiters), 644U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, skipped_total), 704U) << kBump;
}

TEST(SegmentLayout, tableAndFrameShapesArePinned) {
    EXPECT_EQ(sizeof(PublisherEntry), 64U) << kBump;
    EXPECT_EQ(offsetof(PublisherEntry, fence_on), 12U) << kBump;
    EXPECT_EQ(offsetof(PublisherEntry, claiming), 16U) << kBump;
    EXPECT_EQ(offsetof(PublisherEntry, blocked_since_ns), 24U) << kBump;
    EXPECT_EQ(sizeof(RosterEntry), 64U) << kBump;
    EXPECT_EQ(offsetof(RosterEntry, generation), 16U) << kBump;
    EXPECT_EQ(offsetof(RosterEntry, start), 24U) << kBump;
    EXPECT_EQ(sizeof(FrameHeader), 64U) << kBump;
    EXPECT_EQ(offsetof(FrameHeader, timestamp_ns), 16U) << kBump;
    EXPECT_EQ(offsetof(FrameHeader, buffer), 36U) << kBump;
    EXPECT_EQ(sizeof(BufferHeader), 64U) << kBump;
    EXPECT_EQ(kBusyBit, 1ULL << 63) << kBump;
    EXPECT_EQ(kSkippedBit, 1ULL << 62) << kBump;
    EXPECT_EQ(kStaleBit, 1ULL << 61) << kBump;
    EXPECT_EQ(kLowBits, 40) << kBump;
}

TEST(SegmentLayout, readerAndGroupShapesArePinned) {
    EXPECT_EQ(kReaderMagic, 0x3144524243504921ULL) << kBump;
    EXPECT_EQ(sizeof(ReaderRow), 512U) << kBump;
    EXPECT_EQ(offsetof(ReaderRow, position), 64U) << kBump;
    EXPECT_EQ(offsetof(ReaderRow, released), 72U) << kBump;
    EXPECT_EQ(offsetof(ReaderRow, sleep), 128U) << kBump;
    EXPECT_EQ(offsetof(ReaderRow, in_flight), 256U) << kBump;
    EXPECT_EQ(offsetof(ReaderRow, latency_histogram), 384U) << kBump;
    EXPECT_EQ(kGroupMagic, 0x3150524743504921ULL) << kBump;
    EXPECT_EQ(offsetof(GroupState, cursor), 64U) << kBump;
    EXPECT_EQ(offsetof(GroupState, orphans), 192U) << kBump;
    EXPECT_EQ(kMaxOrphans, 64U) << kBump;
    EXPECT_EQ(sizeof(DomainClock), 128U) << kBump;
    EXPECT_EQ(offsetof(DomainClock, calibration), 32U) << kBump;
    EXPECT_EQ(kNoSequence, ~0ULL) << kBump;
    EXPECT_EQ(kPendingBit, 1ULL << 62) << kBump;
}

TEST(SegmentLayout, stampsRoundTrip) {
    const std::uint64_t busy = busy_stamp(12345, 1'000'000'007);
    EXPECT_TRUE(is_busy(busy));
    EXPECT_FALSE(is_stale(busy));
    EXPECT_EQ(busy_owner(busy), 12345U);
    EXPECT_EQ(busy_lap_distance(busy, 1'000'000'007), 0);
    EXPECT_EQ(busy_lap_distance(busy, 1'000'000'000), 7);
    EXPECT_EQ(busy_lap_distance(busy, 1'000'000'010), -3);
    EXPECT_EQ(busy_sequence(busy, 1'000'000'100), 1'000'000'007U);
    // Across a 2^40 boundary of the low bits.
    const std::uint64_t far = (1ULL << 40) + 5;
    EXPECT_EQ(busy_sequence(busy_stamp(1, far), far - 10), far);
    EXPECT_EQ(skipped_stamp(4) & kSequenceMask, 5U);
}

TEST(SegmentLayout, geometryOfSmallSlotsIsPinned) {
    const auto g = compute_geometry({1024, 64, 64, 16, 0, 0});
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(g->frame_stride, 128U) << kBump;  // header line + payload line, adjacent
    EXPECT_EQ(g->publisher_table_offset, 768U) << kBump;
    EXPECT_EQ(g->roster_offset, 768U + 16 * 64) << kBump;
    EXPECT_EQ(g->frames_offset, 8192U) << kBump;  // 768 + 1 KiB + 4 KiB, to a page
    EXPECT_EQ(g->segment_size, 8192U + 1024 * 128) << kBump;
}

TEST(SegmentLayout, poolTopicsKeepPayloadsInPageAlignedBuffers) {
    const auto g = compute_geometry({4, 1'000'000, 8, 16, 8, 0});
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(g->frame_stride, 64U) << "a pool topic's frame is its header alone";
    EXPECT_EQ(g->buffer_stride % kPage, 0U);
    EXPECT_EQ(g->pool_offset % kPage, 0U);
    EXPECT_GE(g->buffer_stride, 1'000'000U);
    EXPECT_EQ(g->segment_size, g->pool_offset + 8 * g->buffer_stride);
}

TEST(SegmentLayout, rejectsOutOfRangeGeometry) {
    EXPECT_FALSE(compute_geometry({1000, 64, 8, 4, 0, 0}));      // not a power of two
    EXPECT_FALSE(compute_geometry({1, 64, 8, 4, 0, 0}));         // too small
    EXPECT_FALSE(compute_geometry({1U << 25, 64, 8, 4, 0, 0}));  // too many frames
    EXPECT_FALSE(compute_geometry({16, 0, 8, 4, 0, 0}));
    EXPECT_FALSE(compute_geometry({16, (1ULL << 30) + 1, 8, 4, 0, 0}));
    EXPECT_FALSE(compute_geometry({16, 64, 0, 4, 0, 0}));
    EXPECT_FALSE(compute_geometry({16, 64, 1025, 4, 0, 0}));
    EXPECT_FALSE(compute_geometry({16, 64, 8, 0, 0, 0}));
    EXPECT_FALSE(compute_geometry({16, 64, 8, 257, 0, 0}));
    EXPECT_FALSE(compute_geometry({16, 64, 8, 4, 16, 0}));  // a pool no larger than the ring
    EXPECT_FALSE(compute_geometry({16, 64, 8, 4, 0, 12}));  // user header not a multiple of 8
    EXPECT_FALSE(compute_geometry({1U << 24, 1ULL << 30, 8, 4, 0, 0}));  // 16 PiB: over the cap
}

// The bytes of a fresh topic, as "offset: hex" lines for every 16 bytes that are not all
// zero (its creator's pid and creation time cleared: they differ from run to run).
std::string dump_fresh_topic() {
    test::HeapSegment seg(test::HeapOptions{4, 64, 2, ipcbus::DeliveryMode::reliable, 1, false, 2},
                          "golden/topic");
    seg.header().creator_pid = 0;
    seg.header().created_unix_ns = 0;
    const auto bytes = seg.bytes();
    std::ostringstream out;
    for (std::size_t line = 0; line < bytes.size(); line += 16) {
        bool zero = true;
        for (std::size_t i = 0; i < 16; ++i) zero = zero && bytes[line + i] == std::byte{0};
        if (zero) continue;
        char text[64];
        std::snprintf(text, sizeof text, "%06zx:", line);
        out << text;
        for (std::size_t i = 0; i < 16; ++i) {
            std::snprintf(text, sizeof text, " %02x", static_cast<unsigned>(bytes[line + i]));
            out << text;
        }
        out << '\n';
    }
    out << "size " << bytes.size() << '\n';
    return out.str();
}

TEST(SegmentLayout, aFreshTopicMatchesTheGoldenDumpByteForByte) {
    const std::string path = std::string(IPCBUS_FIXTURES_DIR) + "/topic-segment-v7.txt";
    const std::string dump = dump_fresh_topic();
    if (std::getenv("IPCBUS_WRITE_GOLDEN") != nullptr) {
        std::ofstream(path) << dump;
        GTEST_SKIP() << "wrote " << path;
    }
    std::ifstream golden(path);
    ASSERT_TRUE(golden) << "missing " << path;
    std::stringstream expected;
    expected << golden.rdbuf();
    EXPECT_EQ(dump, expected.str())
        << kBump << ", and regenerate " << path << " (IPCBUS_WRITE_GOLDEN=1)";
}

TEST(SegmentLayout, aSegmentOfTheLastLayoutIsRefusedNamingBothVersions) {
    // tests/fixtures/layout6-segment.bin: the header segment of a layout-6 topic, as the
    // previous release wrote it. A process of this release must refuse it, clearly.
    std::ifstream in(std::string(IPCBUS_FIXTURES_DIR) + "/layout6-segment.bin", std::ios::binary);
    ASSERT_TRUE(in);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GE(raw.size(), 512U);
    std::vector<std::byte> bytes(raw.size());
    std::memcpy(bytes.data(), raw.data(), raw.size());
    auto r = detail::validate_segment(bytes, "legacy/topic");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::version_mismatch);
    EXPECT_NE(r.error().message.find("layout version 6, this library speaks 7"), std::string::npos)
        << r.error().message;
}

}  // namespace
}  // namespace ipcbus::layout
