// SPDX-License-Identifier: Apache-2.0
// Subscribers never create a topic: one started before its topic exists waits for a
// publisher, which alone fixes the type and the parameters, and is attached before that
// publisher's first message. (Before this, an observer such as `ipcbus echo` started first
// created the topic as raw bytes, and the real, typed publisher was then refused.)
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"

namespace {

using ipcbus::test::ChildProcess;
using ipcbus::test::delivery_peer_path;
using ipcbus::test::settled_topics;

struct Tick {
    std::uint64_t sequence;
    double price;
};
struct Other {
    std::uint32_t a;
};

}  // namespace

template <>
struct ipcbus::TypeDescriptor<Tick> {
    static constexpr std::string_view name = "test.first.Tick";
    static constexpr std::uint64_t schema_version = 1;
};
template <>
struct ipcbus::TypeDescriptor<Other> {
    static constexpr std::string_view name = "test.first.Other";
    static constexpr std::uint64_t schema_version = 1;
};

namespace {

class SubscribeFirstTest : public ipcbus::test::DomainTest {
  protected:
    ipcbus::Node node_ = make_node();
};

TEST_F(SubscribeFirstTest, anObserverStartedFirstLeavesTheTypeToThePublisher) {
    auto observer = ipcbus::RawSubscriber::create(node_, "first/ticks");  // any type
    ASSERT_TRUE(observer) << observer.error().message;
    EXPECT_FALSE(observer->is_attached());
    EXPECT_EQ(observer->max_payload_size(), 0U) << "any size";
    auto nothing = observer->take();
    ASSERT_TRUE(nothing);
    EXPECT_FALSE(nothing->has_value());
    EXPECT_TRUE(settled_topics(node_).empty()) << "a subscriber created the topic";

    auto pub = ipcbus::Publisher<Tick>::create(node_, "first/ticks");
    ASSERT_TRUE(pub) << pub.error().message;
    EXPECT_EQ(pub->subscriber_count(), 1U) << "attached before the publisher's create returned";
    ASSERT_TRUE(pub->send(Tick{7, 1.5}));
    auto sample = observer->receive(std::chrono::seconds(10));
    ASSERT_TRUE(sample) << ipcbus::to_string(sample.error());
    EXPECT_EQ(sample->info().sequence, 0U);
    EXPECT_EQ(sample->info().size, sizeof(Tick));
    EXPECT_TRUE(observer->is_attached());
    EXPECT_EQ(observer->type().name, "test.first.Tick");
    EXPECT_EQ(observer->max_payload_size(), sizeof(Tick));
}

TEST_F(SubscribeFirstTest, aTypedSubscriberWaitingForAnotherTypeIsToldWhyAndThePublisherWorks) {
    auto sub = ipcbus::Subscriber<Other>::create(node_, "first/mixed");
    ASSERT_TRUE(sub) << sub.error().message;
    EXPECT_FALSE(sub->is_attached());
    EXPECT_EQ(sub->type().name, "test.first.Other");
    auto pub = ipcbus::Publisher<Tick>::create(node_, "first/mixed");
    ASSERT_TRUE(pub) << pub.error().message;
    auto taken = sub->receive(std::chrono::seconds(10));
    ASSERT_FALSE(taken);
    EXPECT_EQ(taken.error(), ipcbus::ReceiveError::incompatible_topic);
    const auto why = sub->attach_error();
    ASSERT_TRUE(why);
    EXPECT_EQ(why->code, ipcbus::ErrorCode::type_mismatch);
    EXPECT_NE(why->message.find("test.first.Tick"), std::string::npos) << why->message;
    EXPECT_NE(why->message.find("test.first.Other"), std::string::npos) << why->message;
    EXPECT_FALSE(sub->is_attached());
    EXPECT_TRUE(pub->send(Tick{1, 2.0}));
    EXPECT_EQ(pub->subscriber_count(), 0U);
}

// Three reliable subscriber processes start before anyone publishes; the publisher, in a
// process of its own, then sends 5000 messages through a 64-slot ring: every subscriber
// gets all of them, none lost, because each was attached before the first was claimed.
TEST_F(SubscribeFirstTest, reliableSubscribersStartedBeforeTheirTopicMissNothing) {
    std::vector<std::unique_ptr<ChildProcess>> readers;
    for (int i = 0; i < 3; ++i) {
        readers.push_back(std::make_unique<ChildProcess>(
            std::vector<std::string>{delivery_peer_path(), "subscribe", domain_, "first/reliable",
                                     "mode=reliable", "capacity=64", "expect=5000", "strict=1"}));
        ASSERT_EQ(readers.back()->wait_for_line("ready"), "ready");
    }
    EXPECT_TRUE(settled_topics(node_).empty());
    ChildProcess pub({delivery_peer_path(), "publish", domain_, "first/reliable", "mode=reliable",
                      "capacity=64", "count=5000", "timeout_ms=-1"});
    ASSERT_EQ(pub.wait_for_line("done"), "done 5000");
    for (auto& reader : readers) {
        EXPECT_EQ(reader->wait_for_line("result"),
                  "result delivered=5000 lost=0 torn=0 skipped=0 bad=0");
        EXPECT_EQ(reader->wait(), 0);
    }
    EXPECT_EQ(pub.wait(), 0);
}

// A WaitSet holding a subscriber whose topic does not exist yet sleeps until a publisher
// (another process) creates it and publishes: the first message is there to take.
TEST_F(SubscribeFirstTest, aWaitSetWakesForTheFirstMessageOfATopicCreatedLater) {
    auto sub = ipcbus::RawSubscriber::create(node_, "first/waitset");
    ASSERT_TRUE(sub);
    ipcbus::WaitSet waitset;
    ASSERT_TRUE(waitset.attach(*sub));
    EXPECT_FALSE(waitset.notification_fd()) << "a notifier cannot watch a topic not yet there";
    ChildProcess pub({delivery_peer_path(), "publish", domain_, "first/waitset", "count=1"});
    std::optional<ipcbus::SampleInfo> got;
    std::byte buffer[4096];
    for (int round = 0; round < 100 && !got; ++round) {
        auto ready = waitset.wait(std::chrono::seconds(10));
        ASSERT_TRUE(ready);
        if (ready->empty()) continue;  // woken for nothing (allowed); wait again
        auto taken = sub->take_copy(buffer);
        ASSERT_TRUE(taken) << ipcbus::to_string(taken.error());
        if (taken->has_value()) got = **taken;
    }
    ASSERT_TRUE(got) << "the WaitSet never reported the message";
    EXPECT_EQ(got->sequence, 0U);
    EXPECT_EQ(pub.wait(), 0);
}

// The notification fd handed out while waiting becomes readable once the topic exists,
// and goes on signalling messages after that.
TEST_F(SubscribeFirstTest, aNotificationFdTakenWhileWaitingSignalsTheTopicsMessages) {
    auto sub = ipcbus::RawSubscriber::create(node_, "first/fd");
    ASSERT_TRUE(sub);
    auto fd = sub->notification_fd();
    ASSERT_TRUE(fd) << fd.error().message;
    auto pub = ipcbus::RawPublisher::create(node_, "first/fd");
    ASSERT_TRUE(pub);
    const std::byte message[8] = {};
    ASSERT_TRUE(pub->send(message));
    std::optional<ipcbus::SampleInfo> got;
    std::byte buffer[8192];
    for (int round = 0; round < 100 && !got; ++round) {
        pollfd readable{*fd, POLLIN, 0};
        ASSERT_EQ(::poll(&readable, 1, 10'000), 1) << "the fd never became readable";
        std::uint64_t counter = 0;
        (void)!::read(*fd, &counter, sizeof counter);
        auto taken = sub->take_copy(buffer);
        ASSERT_TRUE(taken);
        if (taken->has_value()) got = **taken;
    }
    ASSERT_TRUE(got);
    EXPECT_EQ(sub->notification_fd().value(), *fd) << "the same fd, before and after";
}

// A waiting subscriber that goes away leaves nothing: the publisher that comes later
// finds no reader.
TEST_F(SubscribeFirstTest, aWaitingSubscriberThatLeavesIsForgotten) {
    {
        auto sub = ipcbus::RawSubscriber::create(node_, "first/gone");
        ASSERT_TRUE(sub);
    }
    ChildProcess killed({delivery_peer_path(), "subscribe", domain_, "first/gone", "expect=1"});
    ASSERT_EQ(killed.wait_for_line("ready"), "ready");
    (void)killed.kill_hard();
    (void)settled_topics(node_);  // its death handled
    auto pub = ipcbus::RawPublisher::create(node_, "first/gone");
    ASSERT_TRUE(pub);
    EXPECT_EQ(pub->subscriber_count(), 0U);
}

// Parameters no topic could have are refused at once, not when a publisher comes.
TEST_F(SubscribeFirstTest, impossibleParametersAreRefusedWhileTheTopicDoesNotExist) {
    auto sub = ipcbus::RawSubscriber::create(node_, "first/bad", {3, 64, 0});
    ASSERT_FALSE(sub);
    EXPECT_NE(sub.error().message.find("capacity 3"), std::string::npos) << sub.error().message;
}

}  // namespace
