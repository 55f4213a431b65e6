// SPDX-License-Identifier: Apache-2.0
// Publisher and Subscriber over real shared memory, in one process: the API contract and
// every bad input refused with a clear error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"

namespace {

struct Tick {
    std::uint64_t id;
    double bid;
    double ask;
};

struct OtherTick {
    std::uint64_t id;
    double bid;
    double ask;
};

using ipcbus::ErrorCode;

class PubSubTest : public ipcbus::test::DomainTest {
  protected:
    ipcbus::Node node_ = make_node();

    template <class R>
    void expect_error(const R& r, ErrorCode code, const std::string& words) {
        ipcbus::test::expect_error(r, code, words);
    }
};

TEST_F(PubSubTest, typedMessageArrivesZeroCopyWithItsInfo) {
    auto sub = ipcbus::Subscriber<Tick>::create(node_, "md/ticks");
    ASSERT_TRUE(sub) << sub.error().message;
    auto pub = ipcbus::Publisher<Tick>::create(node_, "md/ticks");
    ASSERT_TRUE(pub) << pub.error().message;

    auto loan = pub->loan();
    ASSERT_TRUE(loan);
    **loan = Tick{42, 1.5, 1.75};
    auto published = pub->publish(std::move(*loan));
    ASSERT_TRUE(published);
    EXPECT_EQ(*published, 0U);

    auto taken = sub->take();
    ASSERT_TRUE(taken);
    ASSERT_TRUE(taken->has_value());
    const auto& sample = **taken;
    EXPECT_EQ(sample->id, 42U);
    EXPECT_EQ(sample->ask, 1.75);
    EXPECT_EQ(sample.sequence(), 0U);
    EXPECT_EQ(sample.info().publisher_id, pub->id());
    EXPECT_GT(sample.info().timestamp_ns, 0U);
    EXPECT_FALSE(sample.overwritten());
    auto none = sub->take();
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
}

TEST_F(PubSubTest, copyingSendAndTakeCopyRoundTrip) {
    auto pub = ipcbus::Publisher<Tick>::create(node_, "md/copy");
    auto sub = ipcbus::Subscriber<Tick>::create(node_, "md/copy");
    ASSERT_TRUE(pub && sub);
    ASSERT_TRUE(pub->send(Tick{1, 2, 3}));
    ASSERT_TRUE(pub->send(Tick{4, 5, 6}));
    ipcbus::SampleInfo info{};
    auto first = sub->take_copy(&info);
    ASSERT_TRUE(first && first->has_value());
    EXPECT_EQ((*first)->id, 1U);
    EXPECT_EQ(info.sequence, 0U);
    auto second = sub->take_copy();
    ASSERT_TRUE(second && second->has_value());
    EXPECT_EQ((*second)->bid, 5.0);
}

TEST_F(PubSubTest, bridgedMessageKeepsItsOriginSequence) {
    auto pub = ipcbus::RawPublisher::create(node_, "raw/bridged");
    auto sub = ipcbus::RawSubscriber::create(node_, "raw/bridged");
    ASSERT_TRUE(pub && sub);
    auto carried = pub->loan(8);
    ASSERT_TRUE(carried);
    carried->set_origin_sequence(41'000);
    ASSERT_TRUE(pub->publish(std::move(*carried)));
    const std::array<std::byte, 8> local{};
    ASSERT_TRUE(pub->send(local));
    auto first = sub->take();
    ASSERT_TRUE(first && first->has_value());
    EXPECT_EQ((*first)->info().sequence, 0U);
    EXPECT_EQ((*first)->info().origin_sequence, 41'000U);
    auto second = sub->take();
    ASSERT_TRUE(second && second->has_value());
    EXPECT_EQ((*second)->info().origin_sequence, 1U);  // published here: its own sequence
}

TEST_F(PubSubTest, rawMessagesKeepTheirLength) {
    auto pub = ipcbus::RawPublisher::create(node_, "raw/text", {64, 256, 0});
    auto sub = ipcbus::RawSubscriber::create(node_, "raw/text");
    ASSERT_TRUE(pub && sub);
    EXPECT_EQ(sub->max_payload_size(), 256U);
    const std::string text = "hello, bus";
    ASSERT_TRUE(pub->send(std::as_bytes(std::span(text))));
    auto taken = sub->take();
    ASSERT_TRUE(taken && taken->has_value());
    const auto bytes = (*taken)->data();
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), text);
}

TEST_F(PubSubTest, everySubscriberSeesEveryMessage) {
    auto pub = ipcbus::Publisher<Tick>::create(node_, "fan/out");
    std::vector<ipcbus::Subscriber<Tick>> subs;
    for (int i = 0; i < 3; ++i)
        subs.push_back(std::move(ipcbus::Subscriber<Tick>::create(node_, "fan/out")).value());
    for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(pub->send(Tick{i, 0, 0}));
    for (auto& sub : subs) {
        for (std::uint64_t i = 0; i < 10; ++i) {
            auto got = sub.take_copy();
            ASSERT_TRUE(got && got->has_value());
            EXPECT_EQ((*got)->id, i);
        }
    }
}

TEST_F(PubSubTest, waitForSubscribersReturnsOnceTheyAttachAndTimesOutSayingHowManyCame) {
    auto pub = ipcbus::Publisher<Tick>::create(node_, "wait/subs");
    ASSERT_TRUE(pub) << pub.error().message;
    expect_error(pub->wait_for_subscribers(1, std::chrono::milliseconds(20)), ErrorCode::timeout,
                 "topic 'wait/subs': 0 of 1 subscriber(s) attached after 20 ms");

    std::optional<ipcbus::Subscriber<Tick>> late;
    std::thread joiner(
        [&] { late.emplace(ipcbus::Subscriber<Tick>::create(node_, "wait/subs").value()); });
    auto attached = pub->wait_for_subscribers(1, std::chrono::seconds(60));
    joiner.join();
    ASSERT_TRUE(attached) << attached.error().message;
    EXPECT_EQ(*attached, 1U);
    ASSERT_TRUE(pub->send(Tick{7, 0, 0}));  // published after it attached: it gets it
    auto got = late->take_copy();
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->id, 7U);
}

TEST_F(PubSubTest, lateSubscriberStartsWithTheNextMessage) {
    auto pub = ipcbus::Publisher<Tick>::create(node_, "late/join");
    ASSERT_TRUE(pub->send(Tick{1, 0, 0}));
    auto sub = ipcbus::Subscriber<Tick>::create(node_, "late/join");
    ASSERT_TRUE(pub->send(Tick{2, 0, 0}));
    auto got = sub->take_copy();
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->id, 2U);
}

TEST_F(PubSubTest, slowSubscriberLosesExactlyTheOverwrittenMessages) {
    auto pub = ipcbus::Publisher<Tick>::create(node_, "slow/reader", {16, 0, 0});
    auto sub = ipcbus::Subscriber<Tick>::create(node_, "slow/reader");
    for (std::uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(pub->send(Tick{i, 0, 0}));
    for (std::uint64_t i = 84; i < 100; ++i) {
        auto got = sub->take_copy();
        ASSERT_TRUE(got && got->has_value());
        EXPECT_EQ((*got)->id, i);
    }
    EXPECT_EQ(sub->lost(), 84U);
}

// A loan gets its sequence only when published: one dropped unpublished is never seen.
TEST_F(PubSubTest, droppedLoanIsNeverSeenByReaders) {
    auto pub = ipcbus::Publisher<Tick>::create(node_, "skip/loan");
    auto sub = ipcbus::Subscriber<Tick>::create(node_, "skip/loan");
    { auto abandoned = pub->loan(); }
    auto sent = pub->send(Tick{9, 0, 0});
    ASSERT_TRUE(sent);
    EXPECT_EQ(*sent, 0U);
    ipcbus::SampleInfo info{};
    auto got = sub->take_copy(&info);
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->id, 9U);
    EXPECT_EQ(info.sequence, 0U);
    EXPECT_EQ(sub->skipped(), 0U);
    EXPECT_EQ(sub->lost(), 0U);
}

// Loans are private buffers: holding them takes no frame, so a publisher holding as many
// as it may still sends a whole ring and more; only the number of loans is limited.
TEST_F(PubSubTest, loansAreLimitedButHoldingThemBlocksNothing) {
    auto pub = ipcbus::RawPublisher::create(node_, "many/loans", {4, 8, 0});
    ASSERT_TRUE(pub);
    std::vector<ipcbus::RawLoan> held;
    for (std::size_t i = 0; i < pub->max_loans(); ++i)
        held.push_back(std::move(pub->loan(8)).value());
    auto refused = pub->loan(8);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), ipcbus::LoanError::too_many_loans);
    const std::array<std::byte, 8> message{};
    for (int i = 0; i < 12; ++i) ASSERT_TRUE(pub->send(message)) << "send " << i;
    ASSERT_TRUE(pub->publish(std::move(held.back())));
    held.pop_back();
    EXPECT_TRUE(pub->loan(8));
}

// A publish that fails leaves the loan to its owner, who may publish it again.
TEST_F(PubSubTest, aLoanRefusedByPublishCanBePublishedLater) {
    const ipcbus::TopicOptions reliable{4, 8, 0, ipcbus::DeliveryMode::reliable};
    auto pub = ipcbus::RawPublisher::create(node_, "retry/loan", reliable);
    auto sub = ipcbus::RawSubscriber::create(node_, "retry/loan", reliable);
    ASSERT_TRUE(pub && sub);
    pub->set_block_timeout(std::chrono::nanoseconds(0));
    const std::array<std::byte, 8> message{};
    while (pub->send(message)) {
    }
    auto loan = pub->loan(8);
    ASSERT_TRUE(loan);
    loan->data()[0] = std::byte{7};
    auto refused = pub->publish(std::move(*loan));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), ipcbus::LoanError::would_block);
    ASSERT_TRUE(loan->valid()) << "a failed publish must leave the loan to its owner";
    std::array<std::byte, 8> buffer{};
    while (true) {
        auto got = sub->take_copy(buffer);
        ASSERT_TRUE(got);
        if (!got->has_value()) break;
    }
    auto again = pub->publish(std::move(*loan));
    ASSERT_TRUE(again) << ipcbus::to_string(again.error());
    auto got = sub->take_copy(buffer);
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ(buffer[0], std::byte{7});
}

TEST_F(PubSubTest, payloadOverSlotSizeIsRefused) {
    auto pub = ipcbus::RawPublisher::create(node_, "big/payload", {16, 128, 0});
    std::vector<std::byte> big(129);
    auto sent = pub->send(big);
    ASSERT_FALSE(sent);
    EXPECT_EQ(sent.error(), ipcbus::LoanError::payload_too_large);
    EXPECT_EQ(ipcbus::to_string(sent.error()), "payload_too_large");
    EXPECT_TRUE(pub->send(std::span(big).first(128)));
}

TEST_F(PubSubTest, takeCopyNeedsABufferForTheLargestMessage) {
    auto pub = ipcbus::RawPublisher::create(node_, "small/buffer", {16, 128, 0});
    auto sub = ipcbus::RawSubscriber::create(node_, "small/buffer");
    ASSERT_TRUE(pub && sub);
    std::byte small[64];
    auto r = sub->take_copy(small);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), ipcbus::ReceiveError::buffer_too_small);
}

TEST_F(PubSubTest, otherTypeIsRefusedWithBothTypesNamed) {
    auto pub = ipcbus::Publisher<Tick>::create(node_, "typed/topic");
    ASSERT_TRUE(pub);
    auto sub = ipcbus::Subscriber<OtherTick>::create(node_, "typed/topic");
    expect_error(sub, ErrorCode::type_mismatch, "OtherTick");
    auto raw = ipcbus::RawPublisher::create(node_, "typed/topic");
    expect_error(raw, ErrorCode::type_mismatch, "ipcbus.bytes");
    // A raw subscriber that accepts any type may read it (tools do).
    EXPECT_TRUE(ipcbus::RawSubscriber::create(node_, "typed/topic"));
}

TEST_F(PubSubTest, otherParametersAreRefusedNamingTheParameter) {
    auto pub = ipcbus::RawPublisher::create(node_, "params/topic", {32, 64, 0});
    ASSERT_TRUE(pub);
    expect_error(ipcbus::RawSubscriber::create(node_, "params/topic", {64, 0, 0}),
                 ErrorCode::parameter_mismatch, "capacity mismatch: asked for 64, topic has 32");
    expect_error(ipcbus::RawPublisher::create(node_, "params/topic", {0, 100, 0}),
                 ErrorCode::parameter_mismatch, "slot size mismatch");
}

TEST_F(PubSubTest, invalidNamesAreRefused) {
    for (const std::string& topic : {std::string("../etc/passwd"), std::string("/abs"),
                                     std::string(200, 'x'), std::string("a\0b", 3)}) {
        expect_error(ipcbus::RawPublisher::create(node_, topic), ErrorCode::invalid_name,
                     "invalid name");
    }
    auto bad_domain = ipcbus::Node::create({"no/slashes"});
    expect_error(bad_domain, ErrorCode::invalid_name, "domain");
}

TEST_F(PubSubTest, invalidOptionsAreRefused) {
    expect_error(ipcbus::RawPublisher::create(node_, "bad/capacity", {100, 64, 0}),
                 ErrorCode::invalid_argument, "capacity 100");
    expect_error(ipcbus::Publisher<Tick>::create(node_, "bad/slot", {16, 3, 0}),
                 ErrorCode::invalid_argument, "slot_size");
}

TEST_F(PubSubTest, fullReaderTableIsAClearError) {
    auto pub = ipcbus::RawPublisher::create(node_, "few/readers", {16, 64, 2});
    auto a = ipcbus::RawSubscriber::create(node_, "few/readers");
    ASSERT_TRUE(pub && a);
    EXPECT_EQ(pub->subscriber_count(), 1U);
    auto b = ipcbus::RawSubscriber::create(node_, "few/readers");
    ASSERT_TRUE(b);
    EXPECT_EQ(pub->subscriber_count(), 2U);
    expect_error(ipcbus::RawSubscriber::create(node_, "few/readers"), ErrorCode::resource_exhausted,
                 "reader table full");
    { auto gone = std::move(*a); }  // a reader leaves: its entry is free again
    EXPECT_EQ(pub->subscriber_count(), 1U);
    EXPECT_TRUE(ipcbus::RawSubscriber::create(node_, "few/readers"));
}

TEST_F(PubSubTest, daemonDropsTheTopicWhenItsLastUserLeaves) {
    {
        auto pub = ipcbus::RawPublisher::create(node_, "life/cycle");
        auto sub = ipcbus::RawSubscriber::create(node_, "life/cycle");
        ASSERT_TRUE(pub && sub);
        auto topics = node_.list_topics();
        ASSERT_TRUE(topics && topics->size() == 1);
        EXPECT_EQ(topics->front().publishers, 1U);
        EXPECT_EQ(topics->front().subscribers, 1U);
        { auto moved = std::move(*pub); }
        topics = node_.list_topics();
        ASSERT_TRUE(topics && topics->size() == 1);  // the subscriber still uses it
        EXPECT_EQ(topics->front().publishers, 0U);
    }
    auto topics = node_.list_topics();
    ASSERT_TRUE(topics);
    EXPECT_TRUE(topics->empty());
}

TEST_F(PubSubTest, registryShowsTypeParametersAndReaderProgress) {
    auto pub = ipcbus::Publisher<Tick>::create(node_, "md/registry", {32, 0, 4});
    auto sub = ipcbus::Subscriber<Tick>::create(node_, "md/registry");
    ASSERT_TRUE(pub && sub);
    for (std::uint64_t i = 0; i < 40; ++i) ASSERT_TRUE(pub->send(Tick{i, 0, 0}));
    std::uint64_t received = 0;
    for (;;) {  // readers publish their progress in batches, and whenever they run dry
        auto got = sub->take_copy();
        ASSERT_TRUE(got);
        if (!got->has_value()) break;
        ++received;
    }
    EXPECT_EQ(received, 32U);
    auto topics = node_.list_topics();
    ASSERT_TRUE(topics && topics->size() == 1);
    const ipcbus::TopicInfo& t = topics->front();
    EXPECT_EQ(t.name, "md/registry");
    EXPECT_NE(t.type_name.find("Tick"), std::string::npos) << t.type_name;
    EXPECT_EQ(t.slot_size, sizeof(Tick));
    EXPECT_EQ(t.capacity, 32U);
    EXPECT_EQ(t.mode, "overwrite");
    EXPECT_EQ(t.published, 40U);
    EXPECT_EQ(t.creator_pid, ::getpid());
    ASSERT_EQ(t.readers.size(), 1U);
    EXPECT_EQ(t.readers[0].pid, ::getpid());
    EXPECT_EQ(t.readers[0].lost, 8U);
    EXPECT_EQ(t.readers[0].next_sequence, 40U);
    EXPECT_EQ(t.readers[0].received, 32U);
    EXPECT_EQ(t.readers[0].held, 0U);
    EXPECT_FALSE(t.readers[0].asleep);
    ASSERT_EQ(t.publisher_details.size(), 1U);
    EXPECT_EQ(t.publisher_details[0].pid, ::getpid());
    EXPECT_EQ(t.publisher_details[0].published, 40U);
    EXPECT_EQ(t.publisher_details[0].blocked_since_ns, 0U);
}

TEST_F(PubSubTest, errorCodesHaveNames) {
    EXPECT_EQ(ipcbus::to_string(ErrorCode::type_mismatch), "type_mismatch");
    EXPECT_EQ(ipcbus::to_string(ipcbus::ReceiveError::corrupt_slot), "corrupt_slot");
    EXPECT_EQ(ipcbus::to_string(ipcbus::DeliveryMode::overwrite), "overwrite");
}

}  // namespace
