// SPDX-License-Identifier: Apache-2.0
// Hostile clients and exhausted resources: a reader row scribbled on by a buggy client, a
// client that lies about its pid, shared memory that runs out, a process out of file
// descriptors, a topic's reader table filled by many processes; and regressions found by
// the chaos test (tests/chaos). Each failure must be a clear error, never a crash, a
// SIGBUS or a hang of anyone else.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "ipc/unix_socket.hpp"
#include "ipcbus/ipcbus.hpp"
#include "layout/segment_layout.hpp"
#include "protocol.hpp"
#include "test_domain.hpp"
#include "test_payload.hpp"

namespace {

using ipcbus::ErrorCode;
using ipcbus::test::ChildProcess;
using ipcbus::test::settled_topics;

class RobustnessTest : public ipcbus::test::DomainTest {
  protected:
    ipcbus::Node node_ = make_node();
};

// Whether `fd` becomes readable. The bound only turns a lost wake-up into a failure
// instead of a hang; a passing test never waits for it.
bool becomes_readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 10'000) == 1;
}

// --- hostile clients --------------------------------------------------------------------

// The reader segment (a memfd) this process holds for `topic`, mapped writable as its
// owner may: what a buggy client could scribble on.
std::pair<void*, std::size_t> map_reader_segment(const std::string& topic) {
    const std::string wanted = "/memfd:ipcbus:" + topic + ":reader";
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const auto target = std::filesystem::read_symlink(entry.path(), ec);
        if (ec || !target.string().starts_with(wanted)) continue;
        const int fd = std::stoi(entry.path().filename().string());
        struct stat st {};
        if (::fstat(fd, &st) != 0) continue;
        const auto size = static_cast<std::size_t>(st.st_size);
        void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (base != MAP_FAILED) return {base, size};
    }
    return {nullptr, 0};
}

// A buggy client overwrites its own reader segment with garbage: positions, counters,
// sleep words and marks from nowhere. The publisher and a healthy reader in other
// processes go on, each message intact and in order; the daemon lists the topic without
// crashing and cleans up after the scribbler. (A hostile client that writes everything it
// can reach, in a loop: test_data_path.cpp.)
TEST_F(RobustnessTest, readerRowScribbledOnByABuggyClientHarmsNoOneElse) {
    const ipcbus::TopicOptions topic{64, 64, 4, ipcbus::DeliveryMode::reliable};
    {
        // Subscribers never create a topic: a publisher of ours does (and leaves with it).
        auto creator = ipcbus::RawPublisher::create(node_, "hostile/rows", topic);
        ASSERT_TRUE(creator);
        auto scribbler = ipcbus::RawSubscriber::create(node_, "hostile/rows", topic);
        ASSERT_TRUE(scribbler);
        auto [base, size] = map_reader_segment("hostile/rows");
        ASSERT_NE(base, nullptr);
        ASSERT_GE(size, sizeof(ipcbus::layout::ReaderRow));
        std::memset(base, 0xa5, size);

        ChildProcess reader({ipcbus::test::delivery_peer_path(), "subscribe", domain_,
                             "hostile/rows", "capacity=64", "strict=1", "expect=2000"});
        ASSERT_EQ(reader.wait_for_line("ready"), "ready");
        ChildProcess pub({ipcbus::test::delivery_peer_path(), "publish", domain_, "hostile/rows",
                          "capacity=64", "count=2000", "timeout_ms=10000"});
        ASSERT_EQ(pub.wait_for_line("done"), "done 2000") << "the publisher was held back";
        const auto result = reader.wait_for_line("result");
        ASSERT_TRUE(result);
        EXPECT_EQ(*result, "result delivered=2000 lost=0 torn=0 skipped=0 bad=0");
        EXPECT_EQ(reader.wait(), 0);
        EXPECT_EQ(pub.wait(), 0);
        const auto topics = settled_topics(node_);  // the daemon lists garbage rows unharmed
        ASSERT_EQ(topics.size(), 1U);
        EXPECT_EQ(topics[0].subscribers, 1U);
        ::munmap(base, size);
    }
    // The scribbler closes: its handle, not the row's contents, tells the daemon what to
    // free. Nothing is left, and the daemon still serves.
    EXPECT_TRUE(settled_topics(node_).empty());
    EXPECT_TRUE(ipcbus::RawPublisher::create(node_, "hostile/after"));
}

// A client that claims another pid in its request: the daemon takes the pid from the
// kernel (SO_PEERCRED), never from a message, so the claim is ignored.
TEST_F(RobustnessTest, aPidClaimedInARequestIsIgnored) {
    auto creator = ipcbus::RawPublisher::create(node_, "liar/topic", {16, 64, 4});
    ASSERT_TRUE(creator);
    auto fd = ipcbus::detail::connect_seqpacket(ipcbus::detail::daemon_socket_name(domain_));
    ASSERT_TRUE(fd) << fd.error().message;
    const nlohmann::json open{{"v", 2},
                              {"op", "open"},
                              {"topic", "liar/topic"},
                              {"role", "subscriber"},
                              {"pid", 1},  // "I am init"
                              {"type", {{"name", ""}, {"size", 0}, {"align", 1}, {"schema", 0}}},
                              {"capacity", 16},
                              {"slot_size", 64},
                              {"max_readers", 4},
                              {"mode", "overwrite"}};
    ASSERT_EQ(ipcbus::detail::send_message(fd->get(), open.dump()), 0);
    std::string reply;
    std::vector<ipcbus::detail::UniqueFd> segments;
    ASSERT_EQ(ipcbus::detail::recv_message(fd->get(), reply, segments),
              ipcbus::detail::RecvStatus::message);
    ASSERT_TRUE(ipcbus::detail::protocol::parse_reply(reply)) << reply;
    const auto topics = settled_topics(node_);
    ASSERT_EQ(topics.size(), 1U);
    ASSERT_EQ(topics[0].readers.size(), 1U);
    EXPECT_EQ(topics[0].readers[0].pid, ::getpid()) << "the daemon believed the claimed pid";
    fd->reset();
    EXPECT_EQ(settled_topics(node_).at(0).readers.size(), 0U);
}

// --- exhausted resources ------------------------------------------------------------------

// A process out of file descriptors (RLIMIT_NOFILE lowered by prlimit before exec) that
// connects and opens a topic: a clear error naming the cause, no crash.
TEST_F(RobustnessTest, outOfFileDescriptorsIsAClearError) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "the AddressSanitizer runtime itself cannot start with 6 descriptors";
#endif
    auto pub = ipcbus::RawPublisher::create(node_, "fds/topic", {16, 64, 0});
    ASSERT_TRUE(pub);
    // With 4 the daemon connection itself has no room for its stop signal (this once made
    // the child hang on exit); with 6 the segments' descriptors cannot arrive; with 8 it
    // opens the topic and finishes normally.
    for (const char* limit : {"--nofile=4", "--nofile=6", "--nofile=8"}) {
        ChildProcess child({"/usr/bin/prlimit", limit, ipcbus::test::delivery_peer_path(),
                            "subscribe", domain_, "fds/topic", "capacity=16", "expect=0"});
        const auto line = child.read_line();
        ASSERT_TRUE(line) << limit << ": no output";
        const int code = child.wait();
        // Either way: a sentence, and an exit, not a signal or a hang.
        if (std::string(limit) != "--nofile=8") {
            EXPECT_NE(line->find("out of file descriptors"), std::string::npos)
                << limit << ": " << *line;
            EXPECT_EQ(code, 2) << limit << ": " << *line;
        } else {
            EXPECT_EQ(*line, "ready") << limit;
            EXPECT_EQ(code, 0) << limit;
        }
    }
    EXPECT_EQ(settled_topics(node_).size(), 1U);
}

// --- regressions found by the chaos test ----------------------------------------------------

// Found by tests/chaos: the notification thread, once it had signalled, waited for data
// beyond the write cursor it saw then. A message claimed before the signal and committed
// after it (another publisher's, or an earlier loan published later) was never signalled:
// a reader sleeping on the fd missed it, and in reliable mode, with the ring full behind
// it, every publisher blocked for good.
TEST_F(RobustnessTest, notificationFdSignalsAMessageCommittedAfterALaterSignal) {
    auto pub = ipcbus::RawPublisher::create(node_, "notify/order", {16, 64, 0});
    auto sub = ipcbus::RawSubscriber::create(node_, "notify/order", {16, 64, 0});
    ASSERT_TRUE(pub && sub);
    auto fd = sub->notification_fd();
    ASSERT_TRUE(fd) << fd.error().message;
    auto first = pub->loan(64);   // sequence 0
    auto second = pub->loan(64);  // sequence 1: claimed, being written
    ASSERT_TRUE(first && second);
    (void)pub->publish(std::move(*first));
    ASSERT_TRUE(becomes_readable(*fd));
    std::uint64_t count = 0;
    ASSERT_EQ(::read(*fd, &count, sizeof count), static_cast<ssize_t>(sizeof count));
    auto got = sub->take();
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->sequence(), 0U);
    got = sub->take();
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->has_value()) << "sequence 1 is still being written";

    (void)pub->publish(std::move(*second));
    EXPECT_TRUE(becomes_readable(*fd)) << "sequence 1 was committed and never signalled";
    got = sub->take();
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->sequence(), 1U);
}

// Found by tests/chaos: a group member died holding a message after the other members
// had taken everything else and gone to sleep. The daemon turned its row into an orphan
// but woke no one, so nobody took the message over, and the reliable publisher, gated by
// it, blocked until its timeout, for good.
TEST_F(RobustnessTest, sleepingGroupMembersAreWokenToTakeOverADeadMembersMessages) {
    ipcbus::TopicOptions topic{16, 64, 0, ipcbus::DeliveryMode::reliable};
    topic.history_depth = 0;
    auto pub = ipcbus::RawPublisher::create(node_, "group/orphan", topic);
    ASSERT_TRUE(pub);
    pub->set_block_timeout(std::chrono::nanoseconds(0));
    ChildProcess doomed({ipcbus::test::delivery_peer_path(), "subscribe", domain_, "group/orphan",
                         "mode=reliable", "capacity=16", "history_depth=0", "group=workers",
                         "hold_one=1"});
    ASSERT_EQ(doomed.wait_for_line("ready"), "ready");
    std::vector<std::byte> message(64);
    ipcbus::test::write_payload(message, 1, 0);
    ASSERT_TRUE(pub->send(message));
    ASSERT_EQ(doomed.wait_for_line("holding"), "holding 1 0");

    ipcbus::ReaderOptions member;
    member.group = "workers";
    auto survivor =
        ipcbus::RawSubscriber::create(node_, "group/orphan", topic, ipcbus::any_type, member);
    ASSERT_TRUE(survivor);
    auto fd = survivor->notification_fd();
    ASSERT_TRUE(fd);
    for (std::uint64_t i = 1; i < 16; ++i) {  // fills the ring: message 0 is still held
        ipcbus::test::write_payload(message, 1, i);
        ASSERT_TRUE(pub->send(message));
    }
    EXPECT_FALSE(pub->send(message)) << "the ring should be full behind message 0";
    ASSERT_TRUE(becomes_readable(*fd));
    std::uint64_t count = 0;
    ASSERT_EQ(::read(*fd, &count, sizeof count), static_cast<ssize_t>(sizeof count));
    for (std::uint64_t i = 1; i < 16; ++i) {
        auto got = survivor->take();
        ASSERT_TRUE(got && got->has_value());
        EXPECT_EQ((*got)->sequence(), i);
    }

    doomed.kill_hard();
    (void)settled_topics(node_);  // the daemon has made the dead member's row an orphan
    ASSERT_TRUE(becomes_readable(*fd)) << "no member was woken to take over message 0";
    auto got = survivor->take();
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->sequence(), 0U);
    got->reset();  // released: the publisher may go on
    EXPECT_TRUE(pub->send(message));
}

}  // namespace
