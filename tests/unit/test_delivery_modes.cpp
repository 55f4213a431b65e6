// SPDX-License-Identifier: Apache-2.0
// The delivery-mode API in one process: reliable publishers that wait or refuse, samples
// that hold slots, consumer-group limits, and every bad input refused with a clear error.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"

namespace {

using ipcbus::DeliveryMode;
using ipcbus::ErrorCode;

// A reliable topic that keeps no history for late joiners: every frame gates.
ipcbus::TopicOptions reliable(std::uint32_t capacity, std::uint64_t slot_size = 8) {
    ipcbus::TopicOptions o;
    o.capacity = capacity;
    o.slot_size = slot_size;
    o.mode = DeliveryMode::reliable;
    o.history_depth = 0;
    return o;
}

std::vector<std::byte> message(std::uint64_t value) {
    std::vector<std::byte> bytes(8);
    std::memcpy(bytes.data(), &value, sizeof value);
    return bytes;
}

std::uint64_t value_of(const ipcbus::RawSample& sample) {
    std::uint64_t value = 0;
    std::memcpy(&value, sample.data().data(), sizeof value);
    return value;
}

using ipcbus::test::expect_error;

class DeliveryModesTest : public ipcbus::test::DomainTest {
  protected:
    ipcbus::Node node_ = make_node();
};

// A reader holding every slot stops the publisher (would_block at once with timeout 0);
// releasing one sample frees exactly one slot, and held samples stay intact.
TEST_F(DeliveryModesTest, heldSamplesHoldThePublisherBack) {
    auto pub = ipcbus::RawPublisher::create(node_, "held/back", reliable(8));
    auto sub = ipcbus::RawSubscriber::create(node_, "held/back");
    ASSERT_TRUE(pub && sub);
    EXPECT_EQ(pub->mode(), DeliveryMode::reliable);
    pub->set_block_timeout(std::chrono::nanoseconds(0));
    std::vector<ipcbus::RawSample> held;
    for (std::uint64_t i = 0; i < 8; ++i) {
        ASSERT_TRUE(pub->send(message(i)));
        held.push_back(std::move(sub->take().value().value()));
    }
    auto refused = pub->send(message(8));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), ipcbus::LoanError::would_block);
    EXPECT_EQ(ipcbus::to_string(refused.error()), "would_block");
    held.erase(held.begin());  // releases sequence 0
    EXPECT_TRUE(pub->send(message(8)));
    EXPECT_FALSE(pub->send(message(9))) << "only one slot was released";
    for (std::uint64_t i = 0; i < held.size(); ++i) EXPECT_EQ(value_of(held[i]), i + 1);
}

// Out-of-order releases: the slot frees only when the oldest held sample goes.
TEST_F(DeliveryModesTest, onlyTheOldestReleaseFreesSpace) {
    auto pub = ipcbus::RawPublisher::create(node_, "out/of/order", reliable(4));
    auto sub = ipcbus::RawSubscriber::create(node_, "out/of/order");
    ASSERT_TRUE(pub && sub);
    pub->set_block_timeout(std::chrono::nanoseconds(0));
    std::vector<ipcbus::RawSample> held;
    for (std::uint64_t i = 0; i < 4; ++i) {
        ASSERT_TRUE(pub->send(message(i)));
        held.push_back(std::move(sub->take().value().value()));
    }
    held[2].reset();
    held[1].reset();
    EXPECT_FALSE(pub->send(message(4))) << "sequence 0 is still held";
    held[0].reset();
    for (std::uint64_t i = 4; i < 7; ++i) EXPECT_TRUE(pub->send(message(i)));
    EXPECT_FALSE(pub->send(message(7))) << "sequence 3 is still held";
}

// A reliable topic keeps its newest history_depth messages for late joiners: they count
// against the ring, so the publisher blocks that much earlier, and a late joiner asking
// for more history gets exactly that many.
TEST_F(DeliveryModesTest, historyDepthIsKeptForLateJoinersAndCountsAgainstTheRing) {
    ipcbus::TopicOptions options = reliable(8);
    options.history_depth = 3;
    auto pub = ipcbus::RawPublisher::create(node_, "kept/history", options);
    auto early = ipcbus::RawSubscriber::create(node_, "kept/history");
    ASSERT_TRUE(pub && early);
    pub->set_block_timeout(std::chrono::nanoseconds(0));
    std::uint64_t sent = 0;
    while (pub->send(message(sent))) ++sent;
    EXPECT_EQ(sent, 5U) << "capacity 8 less history depth 3";
    ipcbus::ReaderOptions late;
    late.history = 100;
    auto joiner = ipcbus::RawSubscriber::create(node_, "kept/history", {}, ipcbus::any_type, late);
    ASSERT_TRUE(joiner);
    std::vector<std::uint64_t> got;
    while (true) {
        auto sample = joiner->take();
        ASSERT_TRUE(sample);
        if (!sample->has_value()) break;
        got.push_back(value_of(**sample));
    }
    EXPECT_EQ(got, (std::vector<std::uint64_t>{2, 3, 4}));
    auto topics = node_.list_topics();
    ASSERT_TRUE(topics && topics->size() == 1);
    EXPECT_EQ(topics->front().history_depth, 3U);
}

// A timed block gives up with would_block after (at least) its timeout.
TEST_F(DeliveryModesTest, blockedPublisherTimesOut) {
    auto pub = ipcbus::RawPublisher::create(node_, "timed/out", reliable(2));
    auto sub = ipcbus::RawSubscriber::create(node_, "timed/out");
    ASSERT_TRUE(pub && sub);
    ASSERT_TRUE(pub->send(message(0)) && pub->send(message(1)));
    pub->set_block_timeout(std::chrono::milliseconds(5));
    auto refused = pub->send(message(2));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), ipcbus::LoanError::would_block);
    ASSERT_TRUE(sub->take().value().has_value());  // read and released at once
    EXPECT_TRUE(pub->send(message(2)));
}

// Without readers a reliable topic never blocks: nobody needs the old messages.
TEST_F(DeliveryModesTest, reliableTopicWithoutReadersNeverBlocks) {
    auto pub = ipcbus::RawPublisher::create(node_, "nobody/listens", reliable(4));
    ASSERT_TRUE(pub);
    pub->set_block_timeout(std::chrono::nanoseconds(0));
    for (std::uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(pub->send(message(i))) << i;
}

// take_copy() in reliable mode releases at once; a group member holds at most 8 samples.
TEST_F(DeliveryModesTest, groupMemberHoldsAtMostEightSamples) {
    auto pub = ipcbus::RawPublisher::create(node_, "queue/limit", reliable(16));
    ipcbus::ReaderOptions group;
    group.group = "workers";
    auto member = ipcbus::RawSubscriber::create(node_, "queue/limit", {}, ipcbus::any_type, group);
    ASSERT_TRUE(pub && member) << (member ? "" : member.error().message);
    for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(pub->send(message(i)));
    std::vector<ipcbus::RawSample> held;
    for (int i = 0; i < 8; ++i) held.push_back(std::move(member->take().value().value()));
    auto refused = member->take();
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), ipcbus::ReceiveError::too_many_samples);
    held.clear();
    std::byte buffer[8];
    auto copied = member->take_copy(buffer);
    ASSERT_TRUE(copied && copied->has_value());
    EXPECT_EQ((*copied)->sequence, 8U) << "nothing was consumed by the refused take";
}

// Two members of one group split the messages; the group shows in the registry.
TEST_F(DeliveryModesTest, groupSplitsMessagesAndIsListed) {
    auto pub = ipcbus::RawPublisher::create(node_, "work/items");
    ipcbus::ReaderOptions group;
    group.group = "pool";
    auto a = ipcbus::RawSubscriber::create(node_, "work/items", {}, ipcbus::any_type, group);
    auto b = ipcbus::RawSubscriber::create(node_, "work/items", {}, ipcbus::any_type, group);
    auto plain = ipcbus::RawSubscriber::create(node_, "work/items");
    ASSERT_TRUE(pub && a && b && plain);
    for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(pub->send(message(i)));
    std::vector<std::uint64_t> got;
    for (auto* member : {&*a, &*b, &*a, &*b, &*a}) {
        auto taken = member->take();
        if (taken && taken->has_value()) got.push_back(value_of(**taken));
    }
    EXPECT_EQ(got, (std::vector<std::uint64_t>{0, 1, 2, 3}));
    EXPECT_EQ(a->next_sequence(), 4U);
    auto topics = ipcbus::test::settled_topics(node_);
    ASSERT_EQ(topics.size(), 1U);
    ASSERT_EQ(topics[0].groups.size(), 1U);
    EXPECT_EQ(topics[0].groups[0].name, "pool");
    EXPECT_EQ(topics[0].groups[0].members, 2U);
    EXPECT_EQ(topics[0].groups[0].next_sequence, 4U);
    EXPECT_EQ(topics[0].readers.size(), 3U);
    EXPECT_EQ(topics[0].mode, "overwrite");
}

TEST_F(DeliveryModesTest, badGroupNamesAndModeMismatchAreRefused) {
    for (const std::string& name :
         {std::string("a/b"), std::string(65, 'g'), std::string("sp ace")}) {
        ipcbus::ReaderOptions group;
        group.group = name;
        expect_error(
            ipcbus::RawSubscriber::create(node_, "groups/bad", {}, ipcbus::any_type, group),
            ErrorCode::invalid_name, "consumer group");
    }
    auto pub = ipcbus::RawPublisher::create(node_, "mode/fixed", reliable(16));
    ASSERT_TRUE(pub);
    ipcbus::TopicOptions overwrite;
    overwrite.mode = DeliveryMode::overwrite;
    expect_error(ipcbus::RawSubscriber::create(node_, "mode/fixed", overwrite),
                 ErrorCode::parameter_mismatch, "asked for overwrite, topic has reliable");
    EXPECT_TRUE(ipcbus::RawSubscriber::create(node_, "mode/fixed"))
        << "no mode: accept the topic's";
}

}  // namespace
