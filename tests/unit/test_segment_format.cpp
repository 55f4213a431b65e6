// SPDX-License-Identifier: Apache-2.0
// Validation of segments found in memory: every damaged or foreign segment is refused
// with an error that names the topic and the cause; nothing is read out of bounds; what
// validation hands out are copies, never re-read from the segment.
#include <gtest/gtest.h>

#include <string>

#include "heap_segment.hpp"

namespace ipcbus::detail {
namespace {

using test::HeapOptions;
using test::HeapSegment;

void expect_error(const Result<ValidatedTopic>& r, ErrorCode code, const std::string& words,
                  const std::string& topic = "unit/topic") {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(topic), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
}

TEST(SegmentFormat, formattedSegmentValidates) {
    HeapSegment seg(16);
    auto v = validate_segment(seg.bytes(), "unit/topic");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->view.mask, 15U);
    EXPECT_EQ(v->view.slot_size, 64U);
    EXPECT_EQ(v->view.history_depth, 1U);
    EXPECT_EQ(v->view.header->write_cursor.load(), 0U);
    EXPECT_EQ(v->identity.topic, "unit/topic");
    EXPECT_EQ(v->identity.type_name, raw_bytes_type.name);
}

TEST(SegmentFormat, theViewIsACopyThatLaterWritesCannotChange) {
    // Found in review: the publisher re-read `capacity` and the reader `mode` from the
    // header, which another process could rewrite. The view keeps what was validated.
    HeapSegment seg(HeapOptions{16, 64, 4, DeliveryMode::reliable}, "unit/topic");
    auto v = validate_segment(seg.bytes(), "unit/topic");
    ASSERT_TRUE(v);
    seg.header().capacity = 1U << 20;
    seg.header().mode = 0;
    std::memset(seg.header().type_name, 'x', sizeof seg.header().type_name);  // unterminated
    EXPECT_EQ(v->view.capacity, 16U);
    EXPECT_TRUE(v->view.reliable);
    EXPECT_EQ(v->identity.type_name, raw_bytes_type.name);
}

TEST(SegmentFormat, refusesForeignMagic) {
    HeapSegment seg(16);
    seg.header().magic.store(0x1234);
    expect_error(validate_segment(seg.bytes(), "unit/topic"), ErrorCode::not_a_segment,
                 "not an ipcbus topic segment");
}

TEST(SegmentFormat, refusesOtherLayoutVersion) {
    HeapSegment seg(16);
    seg.header().layout_version = 99;
    expect_error(validate_segment(seg.bytes(), "unit/topic"), ErrorCode::version_mismatch,
                 "layout version 99");
}

TEST(SegmentFormat, refusesTruncatedSegment) {
    HeapSegment seg(16);
    expect_error(validate_segment(seg.bytes().first(seg.bytes().size() - 4096), "unit/topic"),
                 ErrorCode::corrupt_segment, "truncated");
    expect_error(validate_segment(seg.bytes().first(600), "unit/topic"), ErrorCode::corrupt_segment,
                 "smaller than its header");
    expect_error(validate_segment(seg.bytes().first(8), "unit/topic"), ErrorCode::corrupt_segment,
                 "smaller than its header");
}

TEST(SegmentFormat, refusesInconsistentGeometry) {
    for (int field = 0; field < 7; ++field) {
        HeapSegment seg(16);
        auto& h = seg.header();
        switch (field) {
            case 0:
                h.capacity = 1000;
                break;  // not a power of two
            case 1:
                h.frame_stride = 64;
                break;  // frames overlap
            case 2:
                h.frames_offset = 1ULL << 40;
                break;
            case 3:
                h.segment_size = 1;
                break;
            case 4:
                h.slot_size = 0;
                break;
            case 5:
                h.pool_buffers = 3;
                break;  // a pool smaller than the ring
            default:
                h.max_publishers = 0;
                break;
        }
        expect_error(validate_segment(seg.bytes(), "unit/topic"), ErrorCode::corrupt_segment,
                     "inconsistent");
    }
}

TEST(SegmentFormat, refusesOutOfRangeParameters) {
    for (int field = 0; field < 3; ++field) {
        HeapSegment seg(16);
        auto& h = seg.header();
        switch (field) {
            case 0:
                h.history_depth = 9;
                break;  // more than half the ring
            case 1:
                h.max_pool_loans = 0;
                break;
            default:
                h.unblock_timeout_ns = 0;
                break;
        }
        expect_error(validate_segment(seg.bytes(), "unit/topic"), ErrorCode::corrupt_segment,
                     "out of range");
    }
}

TEST(SegmentFormat, refusesSegmentOfAnotherTopicOrUnterminatedName) {
    HeapSegment seg(16);
    expect_error(validate_segment(seg.bytes(), "other/topic"), ErrorCode::corrupt_segment,
                 "another topic", "other/topic");
    std::memset(seg.header().topic_name, 'x', sizeof seg.header().topic_name);
    expect_error(validate_segment(seg.bytes(), "unit/topic"), ErrorCode::corrupt_segment,
                 "another topic");
}

TEST(SegmentFormat, refusesUnknownDeliveryMode) {
    HeapSegment seg(16);
    seg.header().mode = 7;
    expect_error(validate_segment(seg.bytes(), "unit/topic"), ErrorCode::corrupt_segment,
                 "unknown delivery mode 7");
}

TEST(SegmentFormat, typeMismatchNamesBothTypes) {
    HeapSegment seg(16);
    TopicRequest want = seg.request();
    want.type = TypeInfo{"my.Type", 64, 8, 42};
    auto r = check_compatible(*validate_segment(seg.bytes(), "unit/topic"), want);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::type_mismatch);
    EXPECT_NE(r.error().message.find("'ipcbus.bytes'"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("'my.Type'"), std::string::npos) << r.error().message;
}

TEST(SegmentFormat, sameTypeWithOtherSchemaIsAMismatch) {
    HeapSegment seg(16);
    TopicRequest want = seg.request();
    want.type.schema_hash += 1;
    auto r = check_compatible(*validate_segment(seg.bytes(), "unit/topic"), want);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::type_mismatch);
}

TEST(SegmentFormat, parameterMismatchSaysWhichAndWhat) {
    HeapSegment seg(16);
    const auto v = *validate_segment(seg.bytes(), "unit/topic");
    TopicRequest want = seg.request();
    want.options.capacity = 32;
    auto r = check_compatible(v, want);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::parameter_mismatch);
    EXPECT_NE(r.error().message.find("capacity mismatch: asked for 32, topic has 16"),
              std::string::npos)
        << r.error().message;
    want = seg.request();
    want.options.history_depth = 5;
    r = check_compatible(v, want);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("history depth mismatch"), std::string::npos);
    want = seg.request();
    want.options.mode = DeliveryMode::reliable;
    EXPECT_FALSE(check_compatible(v, want));
    want.options.mode = DeliveryMode::overwrite;
    EXPECT_TRUE(check_compatible(v, want));
}

TEST(SegmentFormat, defaultCapacityShrinksForLargeSlotsToBoundTheReservation) {
    TopicRequest r{"unit/topic", raw_bytes_type, {}};
    r.options.slot_size = 1 << 20;
    auto plan = plan_segment(r);
    ASSERT_TRUE(plan);
    EXPECT_LE(plan->geometry.segment_size, 72ULL << 20);
    EXPECT_GE(plan->geometry.capacity, 4U);
    EXPECT_GT(plan->geometry.pool_buffers, plan->geometry.capacity) << "1 MiB payloads: a pool";
    r.options.slot_size = 64;
    plan = plan_segment(r);
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->geometry.capacity, default_capacity);
    EXPECT_EQ(plan->geometry.pool_buffers, 0U) << "64 B payloads: inline";
}

TEST(SegmentFormat, planRefusesBadOptions) {
    TopicRequest r{"unit/topic", raw_bytes_type, {}};
    r.options.capacity = 1000;
    EXPECT_FALSE(plan_segment(r));
    r.options.capacity = 16;
    r.options.history_depth = 9;
    auto plan = plan_segment(r);
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().message.find("history depth 9 is more than half the capacity 16"),
              std::string::npos)
        << plan.error().message;
    r.options.history_depth = 8;
    r.options.unblock_timeout = std::chrono::hours(2);
    plan = plan_segment(r);
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().message.find("unblock timeout"), std::string::npos);
    r.options.unblock_timeout = {};
    r.type = TypeInfo{"t", 64, 128, 0};
    r.options.slot_size = 64;
    EXPECT_FALSE(plan_segment(r));
}

TEST(SegmentFormat, readerAndGroupSegmentsAreCheckedForTheirOwner) {
    HeapSegment seg(16);
    auto reader = seg.add_reader();
    std::span<std::byte> row(reinterpret_cast<std::byte*>(reader.row), layout::kReaderSegmentSize);
    EXPECT_TRUE(validate_reader_segment(row, "unit/topic", reader.index));
    EXPECT_FALSE(validate_reader_segment(row, "unit/topic", reader.index + 1));
    EXPECT_FALSE(validate_reader_segment(row.first(100), "unit/topic", reader.index));
    auto group = seg.add_group();
    std::span<std::byte> g(reinterpret_cast<std::byte*>(group.group), layout::kGroupSegmentSize);
    EXPECT_TRUE(validate_group_segment(g, "unit/topic", group.index));
    EXPECT_FALSE(validate_group_segment(row, "unit/topic", group.index))
        << "a reader's is not a group's";
}

}  // namespace
}  // namespace ipcbus::detail
