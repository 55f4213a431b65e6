// SPDX-License-Identifier: Apache-2.0
// ipcbusd with real processes: cleanup after kill -9, hostile protocol input, a second
// daemon, access control by uid, limits, autostart. Synchronisation is on what children
// print and on the daemon's "sync" barrier (answered after it has handled every event
// already pending, such as the disconnect of a child we reaped), never on sleeps.
#include <dirent.h>
#include <grp.h>
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <array>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "ipc/unix_socket.hpp"
#include "ipcbus/ipcbus.hpp"
#include "protocol.hpp"
#include "test_domain.hpp"
#include "test_payload.hpp"

namespace {

using ipcbus::ErrorCode;
using ipcbus::test::ChildProcess;
using ipcbus::test::peer_path;
using ipcbus::test::settled_topics;
using nlohmann::json;

class DaemonTest : public ipcbus::test::DomainTest {
  protected:
    ipcbus::Node node_ = make_node();

    ChildProcess peer(const std::string& mode, const std::string& topic, std::uint64_t count) {
        return ChildProcess({peer_path(), mode, domain_, topic, std::to_string(count), "64", "16"});
    }
};

TEST_F(DaemonTest, killedReadersRowIsFreedAndThePublisherSeesItGone) {
    auto pub = ipcbus::RawPublisher::create(node_, "crash/reader", {16, 64, 0});
    ASSERT_TRUE(pub);
    ChildProcess reader = peer("subscribe", "crash/reader", 1'000'000);
    ASSERT_EQ(reader.wait_for_line("ready"), "ready");
    EXPECT_EQ(pub->subscriber_count(), 1U);
    reader.kill_hard();
    const auto topics = settled_topics(node_);
    ASSERT_EQ(topics.size(), 1U);
    EXPECT_EQ(topics[0].subscribers, 0U);
    EXPECT_TRUE(topics[0].readers.empty());
    EXPECT_EQ(pub->subscriber_count(), 0U);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(pub->send(std::vector<std::byte>(64)));
}

// A loan is private until published: a publisher killed while it holds one (half-filled)
// leaves nothing a reader could see or wait for, and the next message takes the next
// sequence. (A publisher killed inside publish() itself: test_data_path.cpp.)
TEST_F(DaemonTest, publisherKilledHoldingALoanLeavesNothingForReaders) {
    auto sub = ipcbus::RawSubscriber::create(node_, "crash/writer", {16, 64, 0});
    ASSERT_TRUE(sub);
    ChildProcess writer = peer("hold-loan", "crash/writer", 3);
    ASSERT_EQ(writer.wait_for_line("holding"), "holding");
    ipcbus::test::PayloadHeader h{};
    for (std::uint64_t i = 0; i < 3; ++i) {
        // receive(), not take(): the subscriber came first, and the daemon's "attached"
        // event may still be on its way to this process's connection thread.
        auto s = sub->receive(std::chrono::minutes(1));
        ASSERT_TRUE(s) << ipcbus::to_string(s.error());
        EXPECT_TRUE(ipcbus::test::check_payload(s->data(), h));
    }
    auto nothing = sub->take();
    ASSERT_TRUE(nothing);
    EXPECT_FALSE(nothing->has_value()) << "a loan must not be visible before it is published";

    writer.kill_hard();
    (void)settled_topics(node_);

    auto pub = ipcbus::RawPublisher::create(node_, "crash/writer");
    ASSERT_TRUE(pub);
    std::vector<std::byte> next(64);
    ipcbus::test::write_payload(next, 2, 99);
    ASSERT_EQ(*pub->send(next), 3U);
    auto s = sub->take();
    ASSERT_TRUE(s && s->has_value());
    EXPECT_EQ((*s)->sequence(), 3U);
    ASSERT_TRUE(ipcbus::test::check_payload((*s)->data(), h));
    EXPECT_EQ(h.counter, 99U);
    EXPECT_EQ(sub->skipped(), 0U);
    EXPECT_EQ(sub->lost(), 0U);
}

TEST_F(DaemonTest, killingEveryClientLeavesNothingBehind) {
    std::vector<ChildProcess> children;
    for (const char* topic : {"all/a", "all/b"}) {
        children.push_back(peer("subscribe", topic, 1'000'000));
        ASSERT_EQ(children.back().wait_for_line("ready"), "ready");
        children.push_back(peer("hold-loan", topic, 5));
        ASSERT_TRUE(children.back().wait_for_line("holding"));
    }
    ASSERT_EQ(settled_topics(node_).size(), 2U);
    for (auto& child : children) child.kill_hard();
    EXPECT_TRUE(settled_topics(node_).empty());
    // Segments are memfds: not even a crash can leave one in /dev/shm.
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/dev/shm"), ::closedir);
    ASSERT_TRUE(dir);
    while (const dirent* e = ::readdir(dir.get())) {
        EXPECT_EQ(std::string(e->d_name).find(domain_), std::string::npos) << e->d_name;
    }
}

// --- fork -----------------------------------------------------------------------------------

// A child forked without exec that lets the parent's objects die (as returning from main
// would) must neither hang nor close the parent's handles, and may not use the parent's
// Node. (It does not start a Node of its own here: that starts a thread, which POSIX does
// not promise after forking a multithreaded process, and ThreadSanitizer refuses.)
TEST_F(DaemonTest, forkedChildNeitherHangsNorClosesItsParentsHandles) {
    std::optional<ipcbus::Node> inherited = make_node();
    auto creator = ipcbus::RawPublisher::create(node_, "fork/topic", {16, 64, 0});
    ASSERT_TRUE(creator);
    std::optional<ipcbus::RawSubscriber> sub(
        std::move(ipcbus::RawSubscriber::create(*inherited, "fork/topic", {16, 64, 0})).value());
    const pid_t child = ::fork();
    if (child == 0) {
        auto refused = ipcbus::RawPublisher::create(*inherited, "fork/topic");
        const bool refused_ok =
            !refused && refused.error().message.find("before fork()") != std::string::npos;
        sub.reset();
        inherited.reset();
        ::_exit(refused_ok ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    const auto topics = settled_topics(node_);
    ASSERT_EQ(topics.size(), 1U);
    EXPECT_EQ(topics[0].subscribers, 1U) << "the child closed the parent's subscriber";
    ASSERT_EQ(topics[0].readers.size(), 1U);
    EXPECT_EQ(topics[0].readers[0].pid, ::getpid());
}

// --- security ------------------------------------------------------------------------------

TEST_F(DaemonTest, subscriberCannotWriteMessages) {
    auto pub = ipcbus::RawPublisher::create(node_, "ro/topic", {16, 64, 0});
    auto honest = ipcbus::RawSubscriber::create(node_, "ro/topic");
    ASSERT_TRUE(pub && honest);
    ChildProcess vandal({peer_path(), "scribble", domain_, "ro/topic", "1", "64", "16"});
    ASSERT_EQ(vandal.wait_for_line("ready"), "ready");
    std::vector<std::byte> message(64, std::byte{0x11});
    ASSERT_TRUE(pub->send(message));
    EXPECT_EQ(vandal.wait_for_line("writing"), "writing");
    // The write faults: the peer's handler says so and exits 3, or a sanitizer that took the
    // fault first kills it. Never "wrote" (exit 1).
    const auto after = vandal.read_line();
    EXPECT_TRUE(!after || *after == "faulted") << "a subscriber wrote into a message: " << *after;
    const int status = vandal.wait();
    EXPECT_TRUE(status == 3 || status >= 128) << "exit status " << status;
    auto got = honest->take();
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->data()[0], std::byte{0x11});
}

// --- watching a pattern --------------------------------------------------------------------

TEST_F(DaemonTest, watcherLearnsOfMatchingTopicsCreatedLaterAndSubscribesToThem) {
    auto before = ipcbus::RawPublisher::create(node_, "sensors/left/imu", {16, 64, 0});
    ASSERT_TRUE(before);
    ChildProcess fusion({peer_path(), "watch", domain_, "sensors/*/imu", "2", "64", "16"});
    ASSERT_EQ(fusion.wait_for_line("ready"), "ready");
    EXPECT_EQ(fusion.wait_for_line("subscribed"), "subscribed sensors/left/imu");  // existing

    auto unrelated = ipcbus::RawPublisher::create(node_, "sensors/left/camera", {16, 64, 0});
    auto deeper = ipcbus::RawPublisher::create(node_, "sensors/a/b/imu", {16, 64, 0});
    auto later = ipcbus::RawPublisher::create(node_, "sensors/right/imu", {16, 64, 0});
    ASSERT_TRUE(unrelated && deeper && later);
    EXPECT_EQ(fusion.wait_for_line("subscribed"), "subscribed sensors/right/imu");

    std::vector<std::byte> message(64);
    ipcbus::test::write_payload(message, 1, 7);
    ASSERT_TRUE(before->send(message));
    ASSERT_TRUE(later->send(message));
    std::set<std::string> got;
    for (int i = 0; i < 2; ++i) {
        auto line = fusion.wait_for_line("got");
        ASSERT_TRUE(line);
        got.insert(*line);
    }
    EXPECT_EQ(got, (std::set<std::string>{"got sensors/left/imu 7", "got sensors/right/imu 7"}));
    EXPECT_EQ(fusion.wait(), 0);
}

TEST_F(DaemonTest, bridgedTopicIsListedWithItsDirectionWhileTheBridgeIsConnected) {
    auto pub = ipcbus::RawPublisher::create(node_, "robot/telemetry");
    ASSERT_TRUE(pub);
    {
        auto bridge = make_node();  // a connection of its own, like ipcbus-bridge's
        ASSERT_TRUE(bridge.announce_bridge("robot/telemetry", "export", "nats://10.0.0.2:4222"));
        ASSERT_TRUE(bridge.announce_bridge("robot/telemetry", "import", "nats://10.0.0.2:4222"));
        const auto topics = ipcbus::test::settled_topics(node_);
        ASSERT_EQ(topics.size(), 1U);
        ASSERT_EQ(topics[0].bridges.size(), 2U);
        EXPECT_EQ(topics[0].bridges[0].direction, "export");
        EXPECT_EQ(topics[0].bridges[0].remote, "nats://10.0.0.2:4222");
        EXPECT_EQ(topics[0].bridges[0].pid, ::getpid());
        EXPECT_EQ(topics[0].bridges[1].direction, "import");
    }
    // The bridge's connection is gone, and its marks with it.
    const auto topics = ipcbus::test::settled_topics(node_);
    ASSERT_EQ(topics.size(), 1U);
    EXPECT_TRUE(topics[0].bridges.empty());
}

TEST_F(DaemonTest, readerTableFilledByManyProcessesRefusesTheNextUntilOneDies) {
    auto pub = ipcbus::RawPublisher::create(node_, "crowded/topic", {16, 64, 4});
    ASSERT_TRUE(pub);
    std::vector<std::unique_ptr<ChildProcess>> readers;
    for (int i = 0; i < 4; ++i) {
        readers.push_back(std::make_unique<ChildProcess>(std::vector<std::string>{
            peer_path(), "subscribe", domain_, "crowded/topic", "1", "64", "16", "wait"}));
        ASSERT_EQ(readers.back()->read_line(), "ready");
    }
    ChildProcess fifth({peer_path(), "subscribe", domain_, "crowded/topic", "1", "64", "16"});
    const auto refusal = fifth.read_line();
    ASSERT_TRUE(refusal);
    EXPECT_NE(refusal->find("error"), std::string::npos) << *refusal;
    EXPECT_NE(refusal->find("reader table full (4 readers)"), std::string::npos) << *refusal;
    EXPECT_EQ(fifth.wait(), 2);
    EXPECT_EQ(pub->subscriber_count(), 4U);

    readers.front()->kill_hard();  // a reader dies: its row is free again
    (void)ipcbus::test::settled_topics(node_);
    ChildProcess late(
        {peer_path(), "subscribe", domain_, "crowded/topic", "1", "64", "16", "wait"});
    EXPECT_EQ(late.read_line(), "ready");
    EXPECT_EQ(pub->subscriber_count(), 4U);
}

TEST_F(DaemonTest, malformedWatchPatternIsRefused) {
    for (const char* pattern : {"", "a//b", "../x", "a/b*", "/a"}) {
        auto watcher = ipcbus::TopicWatcher::create(node_, pattern);
        ASSERT_FALSE(watcher) << pattern;
        EXPECT_EQ(watcher.error().code, ErrorCode::invalid_argument) << watcher.error().message;
    }
}

// --- daemon restart ------------------------------------------------------------------------

// The registry as the daemon sees it, or nothing while the daemon is unreachable.
std::vector<ipcbus::TopicInfo> registry_if_up(const ipcbus::Node& node) {
    if (!node.daemon()->call(ipcbus::detail::protocol::make_simple("sync"))) return {};
    auto topics = node.list_topics();
    return topics ? std::move(topics).value() : std::vector<ipcbus::TopicInfo>{};
}

TEST_F(DaemonTest, killedDaemonIsRestartedAndRebuildsItsRegistryWithoutLosingAMessage) {
    constexpr std::uint64_t kCount = 3000;  // fits in the ring: any loss would be a bug
    auto pub = ipcbus::RawPublisher::create(node_, "restart/topic", {4096, 64, 0});
    ASSERT_TRUE(pub);
    ChildProcess reader(
        {peer_path(), "subscribe", domain_, "restart/topic", std::to_string(kCount), "64", "4096"});
    ASSERT_EQ(reader.wait_for_line("ready"), "ready");
    ChildProcess doomed(
        {peer_path(), "subscribe", domain_, "restart/topic", "1000000", "64", "4096"});
    ASSERT_EQ(doomed.wait_for_line("ready"), "ready");
    std::vector<std::byte> message(64);
    auto publish = [&](std::uint64_t from, std::uint64_t to) {
        for (std::uint64_t i = from; i < to; ++i) {
            ipcbus::test::write_payload(message, 1, i);
            ASSERT_TRUE(pub->send(message));
        }
    };
    publish(0, 1000);

    daemon_->kill_hard();
    doomed.kill_hard();   // dies while no daemon watches: its reader row must still be freed
    publish(1000, 2000);  // the data path does not need the daemon

    daemon_ = ipcbus::test::start_daemon(domain_);
    ASSERT_TRUE(daemon_);
    ASSERT_TRUE(ipcbus::test::eventually([&] {
        const auto topics = registry_if_up(node_);
        return topics.size() == 1 && topics[0].publishers == 1 && topics[0].subscribers == 1;
    })) << "the clients did not re-register with the restarted daemon";
    const auto rebuilt = registry_if_up(node_);
    ASSERT_EQ(rebuilt.size(), 1U);
    EXPECT_EQ(rebuilt[0].published, 2000U);
    ASSERT_EQ(rebuilt[0].readers.size(), 1U) << "the dead reader's row was not freed";
    EXPECT_EQ(rebuilt[0].readers[0].pid, reader.pid());

    // A newcomer gets the very same segment, not a fresh one.
    ChildProcess late(
        {peer_path(), "subscribe", domain_, "restart/topic", std::to_string(kCount), "64", "4096"});
    ASSERT_EQ(late.wait_for_line("ready"), "ready");
    publish(2000, kCount);

    for (ChildProcess* child : {&reader, &late}) {
        auto line = child->wait_for_line("result");
        ASSERT_TRUE(line);
        unsigned long long delivered = 0, lost = 0, torn = 0, bad = 0, first = 0, last = 0;
        ASSERT_EQ(std::sscanf(line->c_str(),
                              "result delivered=%llu lost=%llu torn=%llu bad=%llu first=%llu "
                              "last=%llu",
                              &delivered, &lost, &torn, &bad, &first, &last),
                  6);
        EXPECT_EQ(lost + torn + bad, 0U) << *line;
        EXPECT_EQ(last, kCount - 1) << *line;
        EXPECT_EQ(delivered, kCount - first) << *line;
        EXPECT_EQ(child->wait(), 0);
    }
}

// --- hostile protocol input --------------------------------------------------------------

class ProtocolTest : public DaemonTest {
  protected:
    ipcbus::detail::UniqueFd connect() {
        auto fd = ipcbus::detail::connect_seqpacket(ipcbus::detail::daemon_socket_name(domain_));
        EXPECT_TRUE(fd) << fd.error().message;
        return std::move(fd).value();
    }

    // Sends raw bytes, returns the reply's "error" text ("" if the reply was ok, "<closed>"
    // if the daemon hung up).
    std::string exchange(int fd, const std::string& bytes, std::vector<int> pass_fds = {}) {
        EXPECT_EQ(ipcbus::detail::send_message(fd, bytes, pass_fds), 0);
        std::string reply;
        std::vector<ipcbus::detail::UniqueFd> got;
        if (!receive_reply(fd, reply, got)) return "<closed>";
        auto parsed = ipcbus::detail::protocol::parse_reply(reply);
        return parsed ? std::string() : parsed.error().message;
    }

    // The next message that is not an event (events, such as "matched", may come first).
    static bool receive_reply(int fd, std::string& reply,
                              std::vector<ipcbus::detail::UniqueFd>& fds) {
        for (;;) {
            fds.clear();
            if (ipcbus::detail::recv_message(fd, reply, fds) !=
                ipcbus::detail::RecvStatus::message) {
                return false;
            }
            const json body = json::parse(reply, nullptr, false);
            if (!body.is_object() || !body.contains("event")) return true;
        }
    }

    static json open_request() {
        return json{{"v", 2},
                    {"op", "open"},
                    {"topic", "p/t"},
                    {"role", "subscriber"},
                    {"type", {{"name", "x"}, {"size", 0}, {"align", 1}, {"schema", 7}}},
                    {"capacity", 16},
                    {"slot_size", 64},
                    {"max_readers", 4},
                    {"mode", "overwrite"}};
    }
};

TEST_F(ProtocolTest, everyMalformedMessageGetsAClearErrorAndTheDaemonSurvives) {
    auto keep = ipcbus::RawPublisher::create(node_, "kept/topic");  // must survive all this
    ASSERT_TRUE(keep);
    auto fd = connect();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"not json at all", "not valid JSON"},
        {"[1,2,3]", "not a JSON object"},
        {R"({"op":"hello"})", "'v' must be a non-negative integer"},
        {R"({"v":-1,"op":"hello"})", "'v' must be a non-negative integer"},
        {R"({"v":3,"op":"hello"})", "protocol version 3 not supported (daemon speaks 2)"},
        {R"({"v":2})", "'op' must be a string"},
        {R"({"v":2,"op":42})", "'op' must be a string"},
        {R"({"v":2,"op":"dance"})", "unknown op 'dance'"},
        {R"({"v":2,"op":"close"})", "'handle' must be a non-negative integer"},
        {R"({"v":2,"op":"close","handle":123456})", "no handle 123456 of yours"},
        {std::string("{\"v\":2,\"op\":\"hel\0lo\"}", 21), "not valid JSON"},  // raw NUL
        {R"({"v":2,"op":"bridge","direction":"export","remote":"x"})", "'topic' must be a string"},
        {R"({"v":2,"op":"bridge","topic":"a/../b","direction":"export","remote":"x"})",
         "invalid name"},
        {R"({"v":2,"op":"bridge","topic":"a","direction":"sideways","remote":"x"})",
         "'direction' must be \"export\" or \"import\""},
        {R"({"v":2,"op":"bridge","topic":"a","direction":"import"})", "'remote' must be a string"},
        {R"({"v":2,"op":"bridge","topic":"a","direction":"import","remote":"a\nb"})",
         "'remote' must be printable ASCII"},
        {R"({"v":2,"op":"bridge","topic":"a","direction":"import","remote":")" +
             std::string(300, 'r') + "\"}",
         "'remote' is too long"},
    };
    for (const auto& [message, expected] : cases) {
        const std::string error = exchange(fd.get(), message);
        EXPECT_NE(error.find(expected), std::string::npos)
            << "message: " << message << "\nerror: " << error;
    }
    auto mutate = [](const char* key, json value) {
        json r = open_request();
        if (value.is_null()) {
            r.erase(key);
        } else {
            r[key] = std::move(value);
        }
        return r.dump();
    };
    const std::vector<std::pair<std::string, std::string>> opens = {
        {mutate("topic", 5), "'topic' must be a string"},
        {mutate("topic", "../etc"), "invalid name"},
        {mutate("topic", std::string(5000, 'a')), "'topic' is too long"},
        {mutate("role", "owner"), "'role' must be"},
        {mutate("type", "int"), "'type' must be an object"},
        {mutate("capacity", 3), "capacity 3"},
        {mutate("capacity", -16), "'capacity' must be a non-negative integer"},
        {mutate("capacity", 1.5), "'capacity' must be a non-negative integer"},
        {mutate("capacity", 1ULL << 40), "'capacity' is out of range"},
        {mutate("slot_size", nullptr), "'slot_size' must be a non-negative integer"},
        {mutate("mode", "telepathy"), "unknown delivery mode"},
        {mutate("mode", 1), "'mode' must be a string"},
        {mutate("group", 7), "'group' must be a string"},
        {mutate("group", ""), "consumer group '': must be 1 to 64 characters"},
        {mutate("group", "a/b"), "only letters, digits"},
        {mutate("group", std::string(500, 'g')), "'group' is too long"},
        {mutate("history", -1), "'history' must be a non-negative integer"},
        {mutate("history", 1ULL << 40), "'history' is out of range"},
    };
    for (const auto& [message, expected] : opens) {
        const std::string error = exchange(fd.get(), message);
        EXPECT_NE(error.find(expected), std::string::npos)
            << "message: " << message << "\nerror: " << error;
    }
    // A descriptor sent to the daemon is closed, not kept; the request is still answered.
    EXPECT_EQ(exchange(fd.get(), R"({"v":2,"op":"hello"})", {STDIN_FILENO, STDOUT_FILENO}), "");
    // Oversized: an error, then the daemon hangs up on this client.
    EXPECT_NE(exchange(fd.get(), std::string(70'000, ' ')).find("larger than 65536 bytes"),
              std::string::npos);
    std::string rest;
    std::vector<ipcbus::detail::UniqueFd> none;
    EXPECT_EQ(ipcbus::detail::recv_message(fd.get(), rest, none),
              ipcbus::detail::RecvStatus::closed);

    // Still serving, registry intact.
    auto other = connect();
    EXPECT_EQ(exchange(other.get(), R"({"v":2,"op":"hello"})"), "");
    const auto topics = settled_topics(node_);
    ASSERT_EQ(topics.size(), 1U);
    EXPECT_EQ(topics[0].name, "kept/topic");
}

TEST_F(ProtocolTest, adoptOfAnUnsealedSegmentIsRefused) {
    auto fd = connect();
    ipcbus::detail::UniqueFd unsealed(::memfd_create("hostile", MFD_CLOEXEC));
    ASSERT_TRUE(unsealed.valid());
    ASSERT_EQ(::ftruncate(unsealed.get(), 1 << 16), 0);
    json adopt = open_request();
    adopt["op"] = "adopt";
    adopt["index"] = 0;
    const std::string error = exchange(fd.get(), adopt.dump(), {unsealed.get(), unsealed.get()});
    EXPECT_NE(error.find("not sealed ipcbus memfds"), std::string::npos) << error;
    EXPECT_NE(
        exchange(fd.get(), adopt.dump(), {unsealed.get()}).find("the segments the open granted"),
        std::string::npos);
    adopt.erase("index");
    EXPECT_NE(exchange(fd.get(), adopt.dump()).find("'index'"), std::string::npos);
}

TEST_F(ProtocolTest, adoptCannotStealALivePublishersId) {
    auto pub = ipcbus::RawPublisher::create(node_, "p/t", {16, 64, 4});
    ASSERT_TRUE(pub);
    auto fd = connect();
    json open = open_request();
    open["type"] = {{"name", ""}, {"size", 0}, {"align", 1}, {"schema", 0}};  // any type
    // Get the real segment the way any subscriber would, then try to adopt it as publisher.
    ASSERT_EQ(ipcbus::detail::send_message(fd.get(), open.dump()), 0);
    std::string reply;
    std::vector<ipcbus::detail::UniqueFd> segments;
    ASSERT_TRUE(receive_reply(fd.get(), reply, segments));
    ASSERT_EQ(segments.size(), 2U) << reply;
    json adopt = open;
    adopt["op"] = "adopt";
    adopt["role"] = "publisher";
    adopt["entry"] = 0;  // the live publisher's entry, this very process's
    for (std::uint32_t id : {pub->id(), 99U}) {
        adopt["index"] = id;
        const std::string error = exchange(fd.get(), adopt.dump(), {segments[0].get()});
        EXPECT_TRUE(error.find("is held by another publisher") != std::string::npos ||
                    error.find("is not this process's") != std::string::npos)
            << error;
    }
}

TEST_F(ProtocolTest, anEmptyMessageEndsTheConnectionOnly) {
    auto fd = connect();
    EXPECT_EQ(exchange(fd.get(), ""), "<closed>");
    auto other = connect();
    EXPECT_EQ(exchange(other.get(), R"({"v":2,"op":"hello"})"), "");
}

// Known limit, made explicit: after a restart, a topic whose publishers were all gone is
// rebuilt from read-only handles. A publisher gets a clear refusal (not EACCES from mmap),
// and once the subscribers close it the name is free for a fresh, writable topic.
TEST_F(DaemonTest, topicRestoredFromSubscribersAloneRefusesPublishersUntilTheyLeave) {
    std::optional<ipcbus::RawSubscriber> sub;
    {
        auto pub = ipcbus::RawPublisher::create(node_, "orphaned/topic", {16, 64, 0});
        ASSERT_TRUE(pub);
        auto attached = ipcbus::RawSubscriber::create(node_, "orphaned/topic");
        ASSERT_TRUE(attached);
        sub = std::move(attached).value();
    }  // the publisher is gone; only the subscriber holds the topic
    daemon_->kill_hard();
    daemon_ = ipcbus::test::start_daemon(domain_);
    ASSERT_TRUE(daemon_);
    ASSERT_TRUE(ipcbus::test::eventually([&] { return registry_if_up(node_).size() == 1; }));

    auto refused = ipcbus::RawPublisher::create(node_, "orphaned/topic");
    ipcbus::test::expect_error(refused, ErrorCode::resource_exhausted,
                               "restored after a daemon restart from its subscribers alone");
    sub.reset();
    auto fresh = ipcbus::RawPublisher::create(node_, "orphaned/topic");
    ASSERT_TRUE(fresh) << fresh.error().message;
}

// With its own exit status (3), which a systemd unit does not restart on
// (RestartPreventExitStatus), instead of looping every second.
TEST_F(DaemonTest, secondDaemonForTheSameDomainIsRefused) {
    ChildProcess second({ipcbus::test::daemon_path(), "--domain", domain_});
    EXPECT_EQ(second.read_line(), std::nullopt);  // never says "ready"
    EXPECT_EQ(second.wait(), 3);
    EXPECT_TRUE(ipcbus::RawPublisher::create(node_, "still/served"));
}

// Under systemd (Type=notify) the daemon says READY=1 once its socket accepts clients, so
// client units ordered after it never find the domain unserved (they used to be started
// as soon as the daemon's process was, before it bound its socket).
TEST(DaemonNotifyTest, tellsTheServiceManagerOnceItAcceptsClients) {
    const std::string domain = ipcbus::test::unique_domain();
    const std::string name = "ipcbus-test-notify-" + domain;
    const int manager = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(manager, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path + 1, name.data(), name.size());  // abstract: leading NUL
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    ASSERT_EQ(::bind(manager, reinterpret_cast<const sockaddr*>(&address), length), 0);

    ::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
    auto daemon = ipcbus::test::start_daemon(domain);
    ::unsetenv("NOTIFY_SOCKET");
    ASSERT_TRUE(daemon);
    pollfd ready{manager, POLLIN, 0};
    ASSERT_EQ(::poll(&ready, 1, 30'000), 1) << "no notification within 30 s";
    char message[64] = {};
    const ssize_t got = ::recv(manager, message, sizeof message - 1, 0);
    EXPECT_EQ(std::string(message, got > 0 ? static_cast<std::size_t>(got) : 0), "READY=1");
    // It was sent after the socket accepted clients: one connects now.
    EXPECT_TRUE(ipcbus::Node::create({domain}));
    ::close(manager);
    daemon->terminate();
}

// --- configuration: access control and limits ---------------------------------------------

// A daemon of its own domain, started with a configuration file.
class ConfiguredDaemon {
  public:
    explicit ConfiguredDaemon(const std::string& toml) {
        char path[] = "/tmp/ipcbus-test-config-XXXXXX";
        const int fd = ::mkstemp(path);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(::write(fd, toml.data(), toml.size()), static_cast<ssize_t>(toml.size()));
        ::close(fd);
        path_ = path;
        daemon_ = ipcbus::test::start_daemon(domain, {"--config", path_});
        EXPECT_TRUE(daemon_) << "ipcbusd refused the configuration";
    }
    ~ConfiguredDaemon() {
        ::unlink(path_.c_str());
        if (daemon_) daemon_->terminate();
    }
    const std::string domain = ipcbus::test::unique_domain();

  private:
    std::string path_;
    std::unique_ptr<ChildProcess> daemon_;
};

// Runs `body` in a forked child as uid/gid 65534 (nobody); returns the child's exit code.
template <class Body>
int as_nobody(Body body) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
            ::_exit(90);
        }
        ::_exit(body());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

TEST(DaemonAccessControl, otherUidIsDeniedARestrictedTopicButNotAnOpenOne) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
    ConfiguredDaemon d(R"(
[[topic]]
pattern = "secret/**"
publish_uids = [0]
subscribe_uids = [0]
)");
    const std::string domain = d.domain;
    const int code = as_nobody([&] {
        auto node = ipcbus::Node::create({domain});
        if (!node) return 10;
        auto denied = ipcbus::RawSubscriber::create(*node, "secret/keys");
        if (denied || denied.error().code != ErrorCode::permission_denied) return 11;
        if (denied.error().message.find("topic 'secret/keys': permission denied: uid 65534 may "
                                        "not subscribe") == std::string::npos) {
            return 12;
        }
        auto pub = ipcbus::RawPublisher::create(*node, "secret/keys");
        if (pub || pub.error().code != ErrorCode::permission_denied) return 13;
        return ipcbus::RawPublisher::create(*node, "public/news") ? 0 : 14;
    });
    EXPECT_EQ(code, 0);
    auto node = ipcbus::Node::create({domain});
    ASSERT_TRUE(node);
    EXPECT_TRUE(ipcbus::RawSubscriber::create(*node, "secret/keys"));  // root is listed
}

TEST(DaemonLimits, topicLimitAndRuleDefaultsFromTheConfiguration) {
    ConfiguredDaemon d(R"(
[limits]
max_topics = 2

[[topic]]
pattern = "cfg/*"
capacity = 64
slot_size = 512
)");
    auto node = ipcbus::Node::create({d.domain});
    ASSERT_TRUE(node) << node.error().message;
    auto a = ipcbus::RawPublisher::create(*node, "cfg/a");
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(a->max_payload_size(), 512U);
    auto topics = node->list_topics();
    ASSERT_TRUE(topics && topics->size() == 1);
    EXPECT_EQ(topics->front().capacity, 64U);
    auto b = ipcbus::RawPublisher::create(*node, "cfg/b");
    ASSERT_TRUE(b);
    auto c = ipcbus::RawPublisher::create(*node, "cfg/c");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, ErrorCode::resource_exhausted);
    EXPECT_NE(c.error().message.find("topic limit reached (2)"), std::string::npos)
        << c.error().message;
}

TEST(DaemonConfig, keptTopicOutlivesItsUsersWithItsMessages) {
    ConfiguredDaemon d("[[topic]]\npattern = \"robot/config/**\"\nkeep = true\n");
    auto node = ipcbus::Node::create({d.domain});
    ASSERT_TRUE(node);
    {
        auto pub = ipcbus::RawPublisher::create(*node, "robot/config/arm", {16, 64, 0});
        auto other = ipcbus::RawPublisher::create(*node, "robot/state", {16, 64, 0});
        ASSERT_TRUE(pub && other);
        ASSERT_TRUE(pub->send(std::vector<std::byte>(64, std::byte{7})));
    }
    auto topics = node->list_topics();
    ASSERT_TRUE(topics);
    ASSERT_EQ(topics->size(), 1U) << "only the kept topic stays";
    EXPECT_EQ(topics->front().name, "robot/config/arm");
    EXPECT_EQ(topics->front().published, 1U);
    auto again = ipcbus::RawPublisher::create(*node, "robot/config/arm");
    ASSERT_TRUE(again);
    EXPECT_EQ(*again->send(std::vector<std::byte>(8)), 1U) << "the same ring, not a new one";
}

TEST(DaemonLimits, segmentLargerThanTheConfiguredCapIsRefused) {
    ConfiguredDaemon d("[limits]\nmax_segment_bytes = 1048576\n");
    auto node = ipcbus::Node::create({d.domain});
    ASSERT_TRUE(node);
    auto big = ipcbus::RawPublisher::create(*node, "big/frames", {16, 1 << 20, 0});
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().code, ErrorCode::resource_exhausted);
    EXPECT_NE(big.error().message.find(
                  "more than the daemon allows one topic (max_segment_bytes = 1048576)"),
              std::string::npos)
        << big.error().message;
}

// Shared memory that cannot be had (here: the daemon under a 1 MiB file-size limit, which
// memfds obey like files; a full /dev/shm or memory behaves the same) is an error for
// the one topic, at creation: no SIGBUS later, no SIGXFSZ for the daemon.
TEST(DaemonLimits, sharedMemoryThatCannotBeHadIsAClearErrorAndTheDaemonLivesOn) {
    const std::string domain = ipcbus::test::unique_domain();
    ChildProcess daemon({"/usr/bin/prlimit", "--fsize=1048576", ipcbus::test::daemon_path(),
                         "--domain", domain, "--log-level", "error"});
    ASSERT_EQ(daemon.read_line(), "ready");
    auto node = ipcbus::Node::create({domain});
    ASSERT_TRUE(node);
    auto big = ipcbus::RawPublisher::create(*node, "big/frames", {16, 1 << 20, 0});
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().code, ErrorCode::resource_exhausted) << big.error().message;
    EXPECT_NE(big.error().message.find("cannot size a segment"), std::string::npos)
        << big.error().message;
    auto small = ipcbus::RawPublisher::create(*node, "small/ticks", {16, 64, 0});
    ASSERT_TRUE(small) << small.error().message;  // the daemon is alive and serving
    auto sub = ipcbus::RawSubscriber::create(*node, "small/ticks");
    ASSERT_TRUE(sub);
    const std::array<std::byte, 8> message{};
    ASSERT_TRUE(small->send(message));
    auto got = sub->take();
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ(daemon.terminate(), 0);
}

TEST(DaemonConfig, invalidConfigurationStopsTheDaemonWithTheReason) {
    char path[] = "/tmp/ipcbus-test-config-XXXXXX";
    const int fd = ::mkstemp(path);
    const std::string bad = "[[topic]]\npattern = \"a/**\"\ncapacity = 100\n";
    ASSERT_EQ(::write(fd, bad.data(), bad.size()), static_cast<ssize_t>(bad.size()));
    ::close(fd);
    ChildProcess daemon(
        {ipcbus::test::daemon_path(), "--domain", ipcbus::test::unique_domain(), "--config", path});
    EXPECT_EQ(daemon.read_line(), std::nullopt);
    EXPECT_EQ(daemon.wait(), 2);
    ::unlink(path);
}

// --- autostart -----------------------------------------------------------------------------

TEST(DaemonAutostart, noDaemonAndNoAutostartIsAClearError) {
    ::setenv("IPCBUS_NO_AUTOSTART", "1", 1);
    auto node = ipcbus::Node::create({ipcbus::test::unique_domain()});
    ASSERT_FALSE(node);
    EXPECT_EQ(node.error().code, ErrorCode::daemon_unreachable);
    EXPECT_NE(node.error().message.find("IPCBUS_NO_AUTOSTART=1"), std::string::npos);
}

TEST(DaemonAutostart, firstClientStartsTheDaemonByItself) {
    ::unsetenv("IPCBUS_NO_AUTOSTART");
    ::setenv("IPCBUS_DAEMON", ipcbus::test::daemon_path().c_str(), 1);
    const std::string domain = ipcbus::test::unique_domain();
    {
        auto node = ipcbus::Node::create({domain});
        ASSERT_TRUE(node) << node.error().message;
        auto pub = ipcbus::RawPublisher::create(*node, "auto/topic");
        auto sub = ipcbus::RawSubscriber::create(*node, "auto/topic");
        ASSERT_TRUE(pub && sub);
        ASSERT_TRUE(pub->send(std::vector<std::byte>(8)));
        auto got = sub->take();
        EXPECT_TRUE(got && got->has_value());
        // A second process's client finds the same daemon rather than starting another.
        ChildProcess other({peer_path(), "subscribe", domain, "auto/topic", "0", "0", "0"});
        EXPECT_EQ(other.wait_for_line("ready"), "ready");
        EXPECT_EQ(other.wait(), 0);
    }
    ::setenv("IPCBUS_NO_AUTOSTART", "1", 1);
    // The autostarted daemon exits by itself when idle (10 s); we do not wait for it.
}

}  // namespace
