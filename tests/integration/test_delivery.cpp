// SPDX-License-Identifier: Apache-2.0
// Delivery guarantees across real processes: many publishers per topic, reliable mode,
// consumer groups (with a member dying mid-message) and history for late joiners. Every
// payload carries its publisher and a per-publisher counter under a checksum.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "child_process.hpp"
#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"
#include "test_payload.hpp"

namespace {

using ipcbus::test::ChildProcess;
using ipcbus::test::delivery_peer_path;

struct Result {
    std::uint64_t delivered = 0, lost = 0, torn = 0, skipped = 0, bad = 0;
};

Result parse_result(const std::optional<std::string>& line) {
    Result r;
    unsigned long long d = 0, l = 0, t = 0, s = 0, b = 0;
    if (line && std::sscanf(line->c_str(),
                            "result delivered=%llu lost=%llu torn=%llu skipped=%llu bad=%llu", &d,
                            &l, &t, &s, &b) == 5) {
        r = Result{d, l, t, s, b};
    } else {
        ADD_FAILURE() << "unexpected peer output: " << line.value_or("<end of output>");
    }
    return r;
}

using Message = std::pair<std::uint32_t, std::uint64_t>;  // publisher, counter

std::vector<Message> read_log(const std::filesystem::path& path) {
    std::vector<Message> out;
    std::ifstream in(path);
    Message m;
    while (in >> m.first >> m.second) out.push_back(m);
    return out;
}

// Messages a test expects: publishers 1..publishers, counters 0..count-1.
std::vector<Message> every_message(std::uint32_t publishers, std::uint64_t count) {
    std::vector<Message> all;
    for (std::uint32_t p = 1; p <= publishers; ++p) {
        for (std::uint64_t c = 0; c < count; ++c) all.emplace_back(p, c);
    }
    return all;
}

class DeliveryTest : public ipcbus::test::DomainTest {
  protected:
    DeliveryTest() {
        char pattern[] = "/tmp/ipcbus-delivery-XXXXXX";
        dir_ = ::mkdtemp(pattern);
    }
    ~DeliveryTest() override { std::filesystem::remove_all(dir_); }

    ChildProcess peer(const std::string& role, const std::string& topic,
                      const std::vector<std::string>& settings) {
        std::vector<std::string> argv{delivery_peer_path(), role, domain_, topic};
        argv.insert(argv.end(), settings.begin(), settings.end());
        return ChildProcess(argv);
    }
    std::filesystem::path log(const std::string& name) const { return dir_ / name; }

    std::filesystem::path dir_;
};

// 4 publishers x 4 readers in reliable mode, 1 M messages per publisher: every reader gets
// every message exactly once, each publisher's in order. Two readers hold 16 zero-copy
// samples at a time and check each again on release: reliable mode never reuses a slot a
// reader still holds.
TEST_F(DeliveryTest, reliableFourPublishersFourReadersGetEverythingExactlyOnceInOrder) {
    constexpr std::uint64_t kPerPublisher = 1'000'000;
    const std::vector<std::string> topic{"mode=reliable", "capacity=1024", "size=64"};
    std::vector<ChildProcess> readers;
    for (int i = 0; i < 4; ++i) {
        auto settings = topic;
        settings.insert(settings.end(), {"strict=1", "expect=" + std::to_string(4 * kPerPublisher),
                                         i < 2 ? "hold=16" : "hold=0"});
        readers.push_back(peer("subscribe", "orders/all", settings));
    }
    for (auto& r : readers) ASSERT_EQ(r.wait_for_line("ready"), "ready");
    std::vector<ChildProcess> publishers;
    for (int p = 1; p <= 4; ++p) {
        auto settings = topic;
        settings.insert(settings.end(),
                        {"count=" + std::to_string(kPerPublisher), "pub=" + std::to_string(p)});
        publishers.push_back(peer("publish", "orders/all", settings));
    }
    for (auto& p : publishers) {
        ASSERT_EQ(p.wait_for_line("done"), "done " + std::to_string(kPerPublisher));
        EXPECT_EQ(p.wait(), 0);
    }
    for (auto& r : readers) {
        const Result res = parse_result(r.wait_for_line("result"));
        EXPECT_EQ(res.delivered, 4 * kPerPublisher);
        EXPECT_EQ(res.lost, 0U);
        EXPECT_EQ(res.torn, 0U);
        EXPECT_EQ(res.bad, 0U) << "a message out of order, duplicated or damaged";
        EXPECT_EQ(r.wait(), 0);
    }
}

// A consumer group of 3 workers and 2 plain readers on one reliable stream: the workers'
// shares are disjoint and together the whole stream; each plain reader sees all of it.
TEST_F(DeliveryTest, groupWorkersShareTheStreamWhilePlainReadersSeeAllOfIt) {
    constexpr std::uint64_t kCount = 100'000;
    const std::string expect = "expect=" + std::to_string(kCount);
    std::vector<ChildProcess> workers;
    for (int i = 0; i < 3; ++i) {
        workers.push_back(peer("subscribe", "tasks",
                               {"mode=reliable", "capacity=256", "group=workers", expect,
                                "log=" + log("worker" + std::to_string(i)).string()}));
    }
    std::vector<ChildProcess> plain;
    for (int i = 0; i < 2; ++i) {
        plain.push_back(
            peer("subscribe", "tasks", {"mode=reliable", "capacity=256", "strict=1", expect}));
    }
    for (auto& c : workers) ASSERT_EQ(c.wait_for_line("ready"), "ready");
    for (auto& c : plain) ASSERT_EQ(c.wait_for_line("ready"), "ready");
    ChildProcess pub = peer("publish", "tasks",
                            {"mode=reliable", "capacity=256", "count=" + std::to_string(kCount)});
    ASSERT_EQ(pub.wait_for_line("done"), "done " + std::to_string(kCount));
    EXPECT_EQ(pub.wait(), 0);

    std::vector<Message> shares;
    for (int i = 0; i < 3; ++i) {
        const Result res = parse_result(workers[i].wait_for_line("result"));
        EXPECT_EQ(res.bad, 0U);
        EXPECT_EQ(res.lost, 0U);
        EXPECT_EQ(workers[i].wait(), 0);
        const auto share = read_log(log("worker" + std::to_string(i)));
        std::printf("[worker %d] %zu tasks\n", i, share.size());
        shares.insert(shares.end(), share.begin(), share.end());
    }
    std::sort(shares.begin(), shares.end());
    EXPECT_EQ(shares, every_message(1, kCount)) << "shares overlap or miss a task";
    for (auto& c : plain) {
        const Result res = parse_result(c.wait_for_line("result"));
        EXPECT_EQ(res.delivered, kCount);
        EXPECT_EQ(res.bad, 0U);
        EXPECT_EQ(c.wait(), 0);
    }
}

// A member that dies holding a message: the message is not lost, another member gets it.
TEST_F(DeliveryTest, messageHeldByADeadGroupMemberGoesToAnotherMember) {
    constexpr std::uint64_t kCount = 50;
    const std::vector<std::string> topic{"mode=reliable", "capacity=64", "group=billing"};
    auto settings = topic;
    settings.push_back("hold_one=1");
    ChildProcess doomed = peer("subscribe", "invoices", settings);
    ASSERT_EQ(doomed.wait_for_line("ready"), "ready");
    settings = topic;
    settings.insert(settings.end(), {"wait=1", "mine=" + std::to_string(kCount),
                                     "log=" + log("survivor").string()});
    ChildProcess survivor = peer("subscribe", "invoices", settings);
    ASSERT_EQ(survivor.wait_for_line("ready"), "ready");
    ChildProcess pub = peer("publish", "invoices", {"mode=reliable", "capacity=64", "count=50"});
    ASSERT_EQ(pub.wait_for_line("done"), "done 50");
    const auto holding = doomed.wait_for_line("holding");
    ASSERT_TRUE(holding);
    doomed.kill_hard();
    ASSERT_TRUE(survivor.write_line("go"));
    const Result res = parse_result(survivor.wait_for_line("result"));
    EXPECT_EQ(res.delivered, kCount)
        << "the dead member's message was not redelivered (" << *holding << ")";
    auto got = read_log(log("survivor"));
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, every_message(1, kCount));
    EXPECT_EQ(survivor.wait(), 0);
    EXPECT_EQ(pub.wait(), 0);
}

// A slow reader in reliable mode holds the publisher back: it blocks, then times out with
// would_block; once the reader is killed, the publisher proceeds, and a healthy reader
// still gets every message.
TEST_F(DeliveryTest, slowReaderBlocksReliablePublisherUntilItIsKilled) {
    const std::vector<std::string> topic{"mode=reliable", "capacity=64", "history_depth=0"};
    auto settings = topic;
    settings.push_back("wait=1");  // attached, never reads
    ChildProcess stuck = peer("subscribe", "feed", settings);
    settings = topic;
    settings.insert(settings.end(), {"strict=1", "expect=200"});
    ChildProcess healthy = peer("subscribe", "feed", settings);
    ASSERT_EQ(stuck.wait_for_line("ready"), "ready");
    ASSERT_EQ(healthy.wait_for_line("ready"), "ready");
    settings = topic;
    settings.insert(settings.end(), {"count=200", "timeout_ms=20"});
    ChildProcess pub = peer("publish", "feed", settings);
    EXPECT_EQ(pub.wait_for_line("would_block"), "would_block 64") << "the ring holds 64";
    stuck.kill_hard();
    EXPECT_EQ(pub.wait_for_line("done"), "done 200");
    const Result res = parse_result(healthy.wait_for_line("result"));
    EXPECT_EQ(res.delivered, 200U);
    EXPECT_EQ(res.bad, 0U);
    EXPECT_EQ(pub.wait(), 0);
    EXPECT_EQ(healthy.wait(), 0);
}

// Overwrite mode, 4 publishers, a slow reader: what it counts as lost is exactly what it
// did not get (every delivered message distinct and intact, and the sum adds up).
TEST_F(DeliveryTest, overwriteWithFourPublishersCountsTrueLossesExactly) {
    constexpr std::uint64_t kPerPublisher = 50'000;
    ChildProcess reader =
        peer("subscribe", "ticks",
             {"capacity=256", "work=300", "expect_stdin=1", "log=" + log("slow").string()});
    ASSERT_EQ(reader.wait_for_line("ready"), "ready");
    const ipcbus::Node node = make_node();
    auto keep = ipcbus::RawSubscriber::create(node, "ticks");  // holds it for the registry
    ASSERT_TRUE(keep);
    std::vector<ChildProcess> publishers;
    for (int p = 1; p <= 4; ++p) {
        publishers.push_back(peer("publish", "ticks",
                                  {"capacity=256", "count=" + std::to_string(kPerPublisher),
                                   "pub=" + std::to_string(p)}));
    }
    for (auto& p : publishers) {
        ASSERT_TRUE(p.wait_for_line("done"));
        EXPECT_EQ(p.wait(), 0);
    }
    // Sequences, not messages: a publisher stalled inside a publish for a whole lap has
    // its sequence passed over (skipped) and publishes the message again.
    const auto topics = ipcbus::test::settled_topics(node);
    ASSERT_EQ(topics.size(), 1U);
    const std::uint64_t sequences = topics[0].published;
    EXPECT_GE(sequences, 4 * kPerPublisher);
    reader.write_line("expect " + std::to_string(sequences));
    const Result res = parse_result(reader.wait_for_line("result"));
    EXPECT_EQ(reader.wait(), 0);
    EXPECT_EQ(res.bad, 0U);
    auto got = read_log(log("slow"));
    const std::set<Message> distinct(got.begin(), got.end());
    EXPECT_EQ(distinct.size(), got.size()) << "a message was delivered twice";
    EXPECT_EQ(got.size(), res.delivered);
    EXPECT_EQ(res.delivered + res.torn + res.lost + res.skipped, sequences)
        << "counted losses differ from true losses";
    std::printf("[slow reader] delivered %llu, lost %llu, torn %llu\n",
                static_cast<unsigned long long>(res.delivered),
                static_cast<unsigned long long>(res.lost),
                static_cast<unsigned long long>(res.torn));
}

// A late joiner asking for history H gets exactly the last H messages: in overwrite mode
// at most a ring, in reliable mode at most the topic's history depth (the messages it
// keeps from reuse for late joiners).
TEST_F(DeliveryTest, lateJoinerWithHistoryGetsExactlyTheLastMessages) {
    for (const auto* mode : {"overwrite", "reliable"}) {
        SCOPED_TRACE(mode);
        const bool reliable = std::string(mode) == "reliable";
        const std::string topic = std::string("state/") + mode;
        auto node = make_node();
        ipcbus::TopicOptions options;
        options.capacity = 64;
        options.slot_size = 64;
        options.history_depth = 32;
        options.mode = reliable ? ipcbus::DeliveryMode::reliable : ipcbus::DeliveryMode::overwrite;
        auto pub = ipcbus::RawPublisher::create(node, topic, options);
        ASSERT_TRUE(pub) << pub.error().message;
        std::byte buffer[64];
        for (std::uint64_t i = 0; i < 100; ++i) {
            ipcbus::test::write_payload(buffer, 1, i);
            ASSERT_TRUE(pub->send(buffer));
        }
        for (const auto& [history, first] :
             {std::pair{10U, 90U}, std::pair{1000U, reliable ? 68U : 36U}}) {
            const std::string name = std::string(mode) + std::to_string(history);
            ChildProcess late =
                peer("subscribe", topic,
                     {"capacity=64", "strict=1", "history=" + std::to_string(history),
                      "expect=" + std::to_string(100 - first), "log=" + log(name).string()});
            const Result res = parse_result(late.wait_for_line("result"));
            EXPECT_EQ(res.delivered, 100 - first);
            EXPECT_EQ(res.lost, 0U);
            auto got = read_log(log(name));
            ASSERT_FALSE(got.empty());
            EXPECT_EQ(got.front().second, first) << "history " << history;
            EXPECT_EQ(got.back().second, 99U);
            EXPECT_EQ(late.wait(), 0);
        }
    }
}

}  // namespace
