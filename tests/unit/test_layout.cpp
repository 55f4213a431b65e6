// Pins the binary shape of every shared-memory structure. If a test here fails, the
// layout changed: bump layout::kLayoutVersion and update the expected values.
#include <gtest/gtest.h>

#include "layout/segment_layout.hpp"

namespace ipcbus::layout {
namespace {

constexpr const char* kBump = "layout changed: bump kLayoutVersion and update this test";

TEST(SegmentLayout, headerShapeIsPinned) {
    EXPECT_EQ(kLayoutVersion, 6U) << kBump;
    EXPECT_EQ(kMagic, 0x3153554243504921ULL) << kBump;
    EXPECT_EQ(sizeof(TopicHeader), 512U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, capacity), 24U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, payload_stride), 40U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, type_align), 88U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, creator_pid), 92U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, created_unix_ns), 104U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, control_size), 16U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, data_size), 368U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, write_cursor), 384U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, next_publisher_id), 452U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, publishers_waiting), 448U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, space_futex), 464U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, readers_waiting), 468U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, data_futex), 472U) << kBump;
    EXPECT_EQ(offsetof(TopicHeader, rows_in_use), 476U) << kBump;
}

TEST(SegmentLayout, readerAndSlotShapesArePinned) {
    EXPECT_EQ(sizeof(ReaderEntry), 128U) << kBump;
    EXPECT_EQ(offsetof(ReaderEntry, pid), 4U) << kBump;
    EXPECT_EQ(offsetof(ReaderEntry, released), 32U) << kBump;
    EXPECT_EQ(offsetof(ReaderEntry, group), 40U) << kBump;
    EXPECT_EQ(offsetof(ReaderEntry, orphan_events), 48U) << kBump;
    EXPECT_EQ(offsetof(ReaderEntry, in_flight), 64U) << kBump;
    EXPECT_EQ(kNoSequence, ~0ULL) << kBump;
    EXPECT_EQ(sizeof(SlotHeader), 64U) << kBump;
    EXPECT_EQ(offsetof(SlotHeader, publisher_id), 24U) << kBump;
    EXPECT_EQ(offsetof(SlotHeader, owner), 28U) << kBump;
    EXPECT_EQ(offsetof(SlotHeader, origin_sequence), 32U) << kBump;
    EXPECT_EQ(kBusyBit, 1ULL << 63) << kBump;
    EXPECT_EQ(kSkippedBit, 1ULL << 62) << kBump;
}

TEST(SegmentLayout, geometryOfSmallSlotsIsPinned) {
    const auto g = compute_geometry(1024, 64, 64);
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(g->payload_stride, 64U) << kBump;
    EXPECT_EQ(g->reader_table_offset, 512U) << kBump;
    EXPECT_EQ(g->control_size, 12288U) << kBump;  // 512 + 64 x 128, to a page
    EXPECT_EQ(g->slot_table_offset, 0U) << kBump;
    EXPECT_EQ(g->payload_offset, 65536U) << kBump;  // 1024 slot headers
    EXPECT_EQ(g->data_size, 65536U + 1024 * 64) << kBump;
}

TEST(SegmentLayout, largeSlotsArePageAligned) {
    const auto g = compute_geometry(4, 1'000'000, 8);
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(g->payload_stride % kPage, 0U);
    EXPECT_EQ(g->payload_offset % kPage, 0U);
    EXPECT_EQ(g->control_size % kPage, 0U);
    EXPECT_GE(g->payload_stride, 1'000'000U);
}

TEST(SegmentLayout, rejectsOutOfRangeGeometry) {
    EXPECT_FALSE(compute_geometry(1000, 64, 8));      // not a power of two
    EXPECT_FALSE(compute_geometry(1, 64, 8));         // too small
    EXPECT_FALSE(compute_geometry(1U << 25, 64, 8));  // too many slots
    EXPECT_FALSE(compute_geometry(16, 0, 8));
    EXPECT_FALSE(compute_geometry(16, (1ULL << 30) + 1, 8));
    EXPECT_FALSE(compute_geometry(16, 64, 0));
    EXPECT_FALSE(compute_geometry(16, 64, 1025));
    EXPECT_FALSE(compute_geometry(1U << 24, 1ULL << 30, 8));  // 16 PiB: over the cap
}

}  // namespace
}  // namespace ipcbus::layout
