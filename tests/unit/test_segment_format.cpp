// Validation of segments found in memory: every damaged or foreign segment is refused
// with an error that names the topic and the cause; nothing is read out of bounds.
#include <gtest/gtest.h>

#include <string>

#include "heap_segment.hpp"

namespace ipcbus::detail {
namespace {

using test::HeapSegment;

void expect_error(const Result<SegmentView>& r, ErrorCode code, const std::string& words,
                  const std::string& topic = "unit/topic") {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(topic), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
}

TEST(SegmentFormat, formattedSegmentValidates) {
    HeapSegment seg(16);
    auto v = validate_segment(seg.memory(), "unit/topic");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->mask, 15U);
    EXPECT_EQ(v->slot_size, 64U);
    EXPECT_EQ(v->header->write_cursor.load(), 0U);
}

TEST(SegmentFormat, refusesForeignMagic) {
    HeapSegment seg(16);
    seg.header().magic.store(0x1234);
    expect_error(validate_segment(seg.memory(), "unit/topic"), ErrorCode::not_a_segment,
                 "not an ipcbus segment");
}

TEST(SegmentFormat, refusesOtherLayoutVersion) {
    HeapSegment seg(16);
    seg.header().layout_version = 99;
    expect_error(validate_segment(seg.memory(), "unit/topic"), ErrorCode::version_mismatch,
                 "layout version 99");
}

TEST(SegmentFormat, refusesTruncatedSegment) {
    HeapSegment seg(16);
    auto memory = seg.memory();
    memory.data = memory.data.first(memory.data.size() - 4096);
    expect_error(validate_segment(memory, "unit/topic"), ErrorCode::corrupt_segment, "truncated");
    memory = seg.memory();
    memory.control = memory.control.first(600);  // header intact, reader table cut
    expect_error(validate_segment(memory, "unit/topic"), ErrorCode::corrupt_segment, "truncated");
    memory.control = memory.control.first(100);
    expect_error(validate_segment(memory, "unit/topic"), ErrorCode::corrupt_segment,
                 "smaller than its header");
}

TEST(SegmentFormat, refusesInconsistentGeometry) {
    for (int field = 0; field < 5; ++field) {
        HeapSegment seg(16);
        auto& h = seg.header();
        switch (field) {
            case 0:
                h.capacity = 12;
                break;  // not a power of two
            case 1:
                h.payload_offset += 64;
                break;  // payloads moved
            case 2:
                h.slot_table_offset = 1ULL << 50;
                break;  // far outside
            case 3:
                h.control_size = 1;
                break;
            case 4:
                h.max_readers = 0;
                break;
        }
        expect_error(validate_segment(seg.memory(), "unit/topic"), ErrorCode::corrupt_segment,
                     "inconsistent");
    }
}

TEST(SegmentFormat, refusesSegmentOfAnotherTopicOrUnterminatedName) {
    HeapSegment seg(16);
    expect_error(validate_segment(seg.memory(), "unit/other"), ErrorCode::corrupt_segment,
                 "another topic", "unit/other");
    std::memset(seg.header().topic_name, 'x', sizeof seg.header().topic_name);
    expect_error(validate_segment(seg.memory(), "unit/topic"), ErrorCode::corrupt_segment,
                 "another topic");
}

TEST(SegmentFormat, refusesUnknownDeliveryMode) {
    HeapSegment seg(16);
    seg.header().mode = 7;
    expect_error(validate_segment(seg.memory(), "unit/topic"), ErrorCode::corrupt_segment,
                 "delivery mode 7");
}

TEST(SegmentFormat, typeMismatchNamesBothTypes) {
    HeapSegment seg(16, 8);
    TopicRequest want = seg.request();
    want.type = TypeInfo{"demo.Tick", 8, 8, 42};
    auto r = check_compatible(seg.view(), want);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::type_mismatch);
    EXPECT_NE(r.error().message.find("'ipcbus.bytes'"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("'demo.Tick'"), std::string::npos) << r.error().message;
}

TEST(SegmentFormat, sameTypeWithOtherSchemaIsAMismatch) {
    HeapSegment seg(16);
    TopicRequest want = seg.request();
    want.type.schema_hash ^= 1;
    auto r = check_compatible(seg.view(), want);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::type_mismatch);
}

TEST(SegmentFormat, parameterMismatchSaysWhichAndWhat) {
    HeapSegment seg(16);
    TopicRequest want = seg.request();
    want.options.capacity = 32;
    auto r = check_compatible(seg.view(), want);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::parameter_mismatch);
    EXPECT_NE(r.error().message.find("capacity mismatch: asked for 32, topic has 16"),
              std::string::npos)
        << r.error().message;
    want = seg.request();
    want.options.slot_size = 128;
    EXPECT_FALSE(check_compatible(seg.view(), want));
    want.options = {};  // zeros: accept whatever the topic has
    EXPECT_TRUE(check_compatible(seg.view(), want));
}

TEST(SegmentFormat, defaultCapacityShrinksForLargeSlotsToBoundTheReservation) {
    TopicRequest r{"unit/topic", raw_bytes_type, {}};
    r.options.slot_size = 64;
    EXPECT_EQ(plan_segment(r)->capacity, 1024U);
    r.options.slot_size = 1 << 20;  // camera frames: 64 slots, not 1 GiB
    EXPECT_EQ(plan_segment(r)->capacity, 64U);
    r.options.slot_size = 256 << 20;
    EXPECT_EQ(plan_segment(r)->capacity, 4U);
    r.options.capacity = 2;  // an explicit capacity always wins
    EXPECT_EQ(plan_segment(r)->capacity, 2U);
}

TEST(SegmentFormat, planRefusesBadOptions) {
    TopicRequest r{"unit/topic", raw_bytes_type, {}};
    r.options.capacity = 1000;
    auto g = plan_segment(r);
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().code, ErrorCode::invalid_argument);
    EXPECT_NE(g.error().message.find("capacity 1000"), std::string::npos);
    r.options.capacity = 16;
    r.type = TypeInfo{"big.Align", 128, 128, 1};
    r.options.slot_size = 128;
    EXPECT_FALSE(plan_segment(r));  // alignment over 64
}

}  // namespace
}  // namespace ipcbus::detail
