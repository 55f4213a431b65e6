// SPDX-License-Identifier: Apache-2.0
// Parameters over a limit get an error that names the topic, the parameter, the limit and
// the way out, never a protocol-level "out of range" (which reads like a bug).
#include <gtest/gtest.h>

#include <string>

#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"

namespace {

using ipcbus::ErrorCode;
using ipcbus::test::expect_error;

struct alignas(128) OverAligned {
    double value;
};

class LimitMessagesTest : public ipcbus::test::DomainTest {
  protected:
    ipcbus::Node node_ = make_node();

    auto publish(const std::string& topic, const ipcbus::TopicOptions& options) {
        return ipcbus::RawPublisher::create(node_, topic, options);
    }
};

TEST_F(LimitMessagesTest, capacityOverTheLimitNamesTheLimit) {
    expect_error(publish("lim/cap", {1U << 30, 64, 0}), ErrorCode::invalid_argument,
                 "topic 'lim/cap': capacity 1073741824 is more than the limit of 16777216 slots "
                 "(ipcbus::max_capacity)");
    expect_error(publish("lim/cap", {1000, 64, 0}), ErrorCode::invalid_argument,
                 "topic 'lim/cap': capacity 1000 is not a power of two");
}

TEST_F(LimitMessagesTest, slotSizeOverTheLimitNamesTheLimit) {
    expect_error(publish("lim/slot", {16, 1ULL << 40, 0}), ErrorCode::invalid_argument,
                 "topic 'lim/slot': slot size 1099511627776 bytes is more than the limit of "
                 "1073741824 bytes, 1 GiB (ipcbus::max_slot_size)");
}

TEST_F(LimitMessagesTest, tooManyReadersNamesTheLimit) {
    expect_error(publish("lim/readers", {16, 64, 1025}), ErrorCode::invalid_argument,
                 "topic 'lim/readers': max_readers 1025 is more than the limit of 1024 readers "
                 "per topic");
    // A subscriber asking for the same is told the same (it never reaches the daemon).
    expect_error(ipcbus::RawSubscriber::create(node_, "lim/readers", {16, 64, 1025}),
                 ErrorCode::invalid_argument, "max_readers 1025 is more than the limit of 1024");
}

TEST_F(LimitMessagesTest, overAlignedTypeIsRefusedForItsAlignmentNotAsNoPowerOfTwo) {
    expect_error(ipcbus::Publisher<OverAligned>::create(node_, "lim/aligned"),
                 ErrorCode::invalid_argument,
                 "topic 'lim/aligned': type alignment 128 is more than 64, the alignment of every "
                 "slot (a cache line)");
}

TEST_F(LimitMessagesTest, segmentOverTheDaemonsLimitNamesTheLimitAndTheFix) {
    // 256 MiB slots at the default capacity (4 at least): 1 GiB, over the default cap.
    expect_error(publish("lim/huge", {0, 256ULL << 20, 0}), ErrorCode::resource_exhausted,
                 "topic 'lim/huge': its segment would take ");
    auto huge = publish("lim/huge", {0, 256ULL << 20, 0});
    ASSERT_FALSE(huge);
    for (const char* words : {"(capacity 4 x slot size 268435456)",
                              "more than the daemon allows one topic (max_segment_bytes = ",
                              "or raise the limit in the [limits] section of ipcbusd's --config"}) {
        EXPECT_NE(huge.error().message.find(words), std::string::npos) << huge.error().message;
    }
}

TEST(TopicNames, checkTopicNameSaysWhyANameIsInvalid) {
    EXPECT_TRUE(ipcbus::check_topic_name("md/ticks"));
    auto dots = ipcbus::check_topic_name("../x");
    ASSERT_FALSE(dots);
    EXPECT_EQ(dots.error().code, ErrorCode::invalid_name);
    EXPECT_EQ(dots.error().message, "topic '../x': invalid name: '.' or '..' level");
}

}  // namespace
