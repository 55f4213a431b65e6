// SPDX-License-Identifier: Apache-2.0
// Real processes (fork + exec of ipcbus_test_peer) exchanging messages through shared
// memory. Every test synchronises on what the children print, never on sleeps.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"
#include "test_payload.hpp"

namespace {

using ipcbus::test::ChildProcess;
using ipcbus::test::peer_path;

struct Result {
    std::uint64_t delivered = 0, lost = 0, torn = 0, bad = 0, first = 0, last = 0;
};

Result parse_result(const std::string& line) {
    Result r;
    unsigned long long d, l, t, b, f, x;
    if (std::sscanf(line.c_str(),
                    "result delivered=%llu lost=%llu torn=%llu bad=%llu first=%llu last=%llu", &d,
                    &l, &t, &b, &f, &x) == 6) {
        r = Result{d, l, t, b, f, x};
    } else {
        ADD_FAILURE() << "unexpected peer output: " << line;
    }
    return r;
}

class CrossProcessTest : public ipcbus::test::DomainTest {
  protected:
    ChildProcess subscriber(const std::string& topic, std::uint64_t count, std::uint64_t size,
                            std::uint32_t capacity, bool wait = false) {
        std::vector<std::string> argv{peer_path(),
                                      "subscribe",
                                      domain_,
                                      topic,
                                      std::to_string(count),
                                      std::to_string(size),
                                      std::to_string(capacity)};
        if (wait) argv.emplace_back("wait");
        return ChildProcess(argv);
    }
    ChildProcess publisher(const std::string& topic, std::uint64_t count, std::uint64_t size,
                           std::uint32_t capacity, std::uint32_t publisher_no = 1) {
        return ChildProcess({peer_path(), "publish", domain_, topic, std::to_string(count),
                             std::to_string(size), std::to_string(capacity),
                             std::to_string(publisher_no)});
    }
};

// One publisher process, four subscriber processes, a million checksummed messages. On a
// 2-core machine the subscribers are preempted and overrun (overwrite mode): the proof is
// that nothing torn or out of order is ever delivered, and that delivered + lost + torn
// accounts for every message exactly.
TEST_F(CrossProcessTest, oneMillionMessagesToFourSubscriberProcesses) {
    constexpr std::uint64_t kCount = 1'000'000;
    constexpr std::uint64_t kSize = 64;
    constexpr std::uint32_t kCapacity = 4096;
    std::vector<ChildProcess> subs;
    for (int i = 0; i < 4; ++i)
        subs.push_back(subscriber("stream/ticks", kCount, kSize, kCapacity));
    for (auto& s : subs) ASSERT_EQ(s.wait_for_line("ready"), "ready");
    ChildProcess pub = publisher("stream/ticks", kCount, kSize, kCapacity);
    ASSERT_EQ(pub.wait_for_line("done"), "done 1000000");
    EXPECT_EQ(pub.wait(), 0);
    for (auto& s : subs) {
        auto line = s.wait_for_line("result");
        ASSERT_TRUE(line) << "subscriber died";
        const Result r = parse_result(*line);
        EXPECT_EQ(r.bad, 0U) << *line;
        EXPECT_EQ(r.delivered + r.lost + r.torn, kCount) << *line;
        EXPECT_GT(r.delivered, 0U) << *line;
        EXPECT_EQ(r.last, kCount - 1) << "the newest message is never lost: " << *line;
        EXPECT_EQ(s.wait(), 0);
        std::printf("[subscriber %d] %s\n", s.pid(), line->c_str());
    }
}

// A subscriber that does not read while the publisher writes 4.5 rings' worth: it must
// then receive exactly the last ring, and report exactly what it missed.
TEST_F(CrossProcessTest, overrunSubscriberCountsExactlyWhatItMissed) {
    constexpr std::uint32_t kCapacity = 64;
    constexpr std::uint64_t kCount = kCapacity * 4 + kCapacity / 2;  // 288
    ChildProcess sub = subscriber("slow/stream", kCount, 256, kCapacity, /*wait=*/true);
    ASSERT_EQ(sub.wait_for_line("ready"), "ready");
    ChildProcess pub = publisher("slow/stream", kCount, 256, kCapacity);
    ASSERT_EQ(pub.wait_for_line("done"), "done 288");
    ASSERT_EQ(pub.wait(), 0);
    ASSERT_TRUE(sub.write_line("go"));
    auto line = sub.wait_for_line("result");
    ASSERT_TRUE(line);
    const Result r = parse_result(*line);
    EXPECT_EQ(r.lost, kCount - kCapacity) << *line;
    EXPECT_EQ(r.delivered, kCapacity) << *line;
    EXPECT_EQ(r.first, kCount - kCapacity) << *line;
    EXPECT_EQ(r.last, kCount - 1) << *line;
    EXPECT_EQ(r.bad, 0U) << *line;
    EXPECT_EQ(sub.wait(), 0);
}

// Large zero-copy messages (1 MiB slots) cross processes intact.
TEST_F(CrossProcessTest, largeMessagesCrossIntact) {
    constexpr std::uint64_t kSize = 1 << 20;
    ChildProcess sub = subscriber("camera/frames", 64, kSize, 8, /*wait=*/false);
    ASSERT_EQ(sub.wait_for_line("ready"), "ready");
    ChildProcess pub = publisher("camera/frames", 64, kSize, 8);
    ASSERT_EQ(pub.wait_for_line("done"), "done 64");
    auto line = sub.wait_for_line("result");
    ASSERT_TRUE(line);
    const Result r = parse_result(*line);
    EXPECT_EQ(r.bad, 0U) << *line;
    EXPECT_EQ(r.delivered + r.lost + r.torn, 64U) << *line;
    EXPECT_EQ(pub.wait(), 0);
    EXPECT_EQ(sub.wait(), 0);
}

// A process that opens a topic with the wrong type gets a clear error, not garbage.
TEST_F(CrossProcessTest, mismatchedParametersFromAnotherProcessAreRefused) {
    auto node = make_node();
    auto pub = ipcbus::RawPublisher::create(node, "shared/params", {32, 128, 0});
    ASSERT_TRUE(pub);
    ChildProcess sub = subscriber("shared/params", 1, 64, 32);
    auto line = sub.read_line();
    ASSERT_TRUE(line);
    EXPECT_NE(line->find("slot size mismatch: asked for 64, topic has 128"), std::string::npos)
        << *line;
    EXPECT_EQ(sub.wait(), 2);
}

}  // namespace
