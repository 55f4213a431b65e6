// SPDX-License-Identifier: Apache-2.0
// ipcbus-bridge between two bus domains on this machine, standing in for two hosts, over a
// real nats-server that each test starts on a free port of its own. Every process is real:
// the daemons, the bridges, the publishers and subscribers (tests/bridge/bridge_peer.cpp).
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ipcbus/ipcbus.hpp"
#include "metadata.hpp"
#include "test_domain.hpp"
#include "test_payload.hpp"

namespace {

using ipcbus::test::ChildProcess;
using nlohmann::json;

constexpr const char* kBus = "bus";  // the name both domains share on NATS

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    ::close(fd);
    return ok ? ntohs(address.sin_port) : -1;
}

// A nats-server of the test's own, on loopback, with JetStream kept in a directory of its
// own (which survives a restart, as a server's disk would).
class NatsServer {
  public:
    NatsServer() : port_(free_port()) {
        char dir[] = "/tmp/ipcbus-nats-XXXXXX";
        EXPECT_NE(::mkdtemp(dir), nullptr);
        store_ = dir;
        start();
    }
    ~NatsServer() {
        stop();
        std::filesystem::remove_all(store_);
    }

    void start() {
        process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
            IPCBUS_NATS_SERVER_PATH, "-a", "127.0.0.1", "-p", std::to_string(port_), "-l",
            "/dev/null", "-js", "-sd", store_});
        // It says nothing on stdout: it is up once it accepts a client.
        EXPECT_TRUE(ipcbus::test::eventually([this] { return reachable(); }))
            << "nats-server did not start on port " << port_;
    }
    void stop() { process_.reset(); }  // SIGKILL, as a crash would
    [[nodiscard]] std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

  private:
    [[nodiscard]] bool reachable() const {
        natsConnection* nc = nullptr;
        if (natsConnection_ConnectTo(&nc, url().c_str()) != NATS_OK) return false;
        natsConnection_Destroy(nc);
        return true;
    }
    int port_;
    std::string store_;
    std::unique_ptr<ChildProcess> process_;
};

struct Done {
    unsigned long long received = 0, disorder = 0, corrupt = 0, mismatch = 0;
};

Done parse_done(const std::optional<std::string>& line) {
    Done d;
    EXPECT_TRUE(line) << "subscriber ended without 'done'";
    if (line) {
        EXPECT_EQ(std::sscanf(line->c_str(),
                              "done received %llu disorder %llu corrupt %llu "
                              "mismatch %llu",
                              &d.received, &d.disorder, &d.corrupt, &d.mismatch),
                  4)
            << *line;
    }
    return d;
}

class BridgeTest : public ::testing::Test {
  protected:
    BridgeTest() {
        ::setenv("IPCBUS_NO_AUTOSTART", "1", 1);
        daemon_a_ = ipcbus::test::start_daemon(a_);
        daemon_b_ = ipcbus::test::start_daemon(b_);
    }

    void SetUp() override { ASSERT_TRUE(daemon_a_ && daemon_b_); }

    void TearDown() override {
        for (const auto& domain : {a_, b_}) {
            auto node = ipcbus::Node::create({domain});
            ASSERT_TRUE(node);
            EXPECT_TRUE(ipcbus::test::settled_topics(*node).empty()) << "topics left in " << domain;
        }
        daemon_a_->terminate();
        daemon_b_->terminate();
    }

    std::unique_ptr<ChildProcess> peer(std::vector<std::string> args) {
        args.insert(args.begin(), IPCBUS_BRIDGE_PEER_PATH);
        auto child = std::make_unique<ChildProcess>(args);
        EXPECT_EQ(child->read_line(), "ready");
        return child;
    }

    std::unique_ptr<ChildProcess> bridge(const std::string& domain, std::vector<std::string> args) {
        std::vector<std::string> argv{
            IPCBUS_BRIDGE_PATH, "--domain", domain,        "--nats", nats_.url(),
            "--nats-domain",    kBus,       "--log-level", "warn"};
        argv.insert(argv.end(), args.begin(), args.end());
        auto child = std::make_unique<ChildProcess>(argv);
        EXPECT_TRUE(child->wait_for_line("ready")) << "bridge of " << domain << " did not start";
        return child;
    }

    // Stops a bridge (SIGTERM) and returns the counters it prints on exit.
    static json stop(ChildProcess& bridge) {
        ::kill(bridge.pid(), SIGTERM);
        const auto line = bridge.wait_for_line("stats ");
        EXPECT_EQ(bridge.wait(), 0);
        if (!line) return json{};
        return json::parse(line->substr(6));
    }

    std::string a_ = ipcbus::test::unique_domain();
    std::string b_ = ipcbus::test::unique_domain();
    std::unique_ptr<ChildProcess> daemon_a_;
    std::unique_ptr<ChildProcess> daemon_b_;
    NatsServer nats_;
};

TEST_F(BridgeTest, hundredThousandMessagesCrossInOrderWithTheirOriginalSequences) {
    auto subscriber = peer({"subscribe", b_, "robot/telemetry", "99999"});
    auto publisher = peer({"publish", a_, "robot/telemetry"});
    auto into_b = bridge(b_, {"--import", "robot/**"});
    auto from_a = bridge(a_, {"--export", "robot/**"});

    ASSERT_TRUE(publisher->write_line("send 100000"));
    EXPECT_EQ(publisher->wait_for_line("sent"), "sent 100000");
    const Done done = parse_done(subscriber->wait_for_line("done"));
    EXPECT_EQ(done.received, 100'000U);
    EXPECT_EQ(done.disorder, 0U);
    EXPECT_EQ(done.corrupt, 0U);
    EXPECT_EQ(done.mismatch, 0U);  // the origin sequence is the publisher's own

    publisher->close_stdin();
    EXPECT_EQ(publisher->wait(), 0);
    EXPECT_EQ(subscriber->wait(), 0);
    const json out = stop(*from_a);
    const json in = stop(*into_b);
    EXPECT_EQ(out["exported"], 100'000);
    EXPECT_EQ(out["local_lost"], 0);
    EXPECT_EQ(in["imported"], 100'000);
    EXPECT_EQ(in["gaps"], 0);
    EXPECT_EQ(in["garbage"], 0);
}

TEST_F(BridgeTest, bothWaysWithOverlappingPatternsNeitherLoopsNorDuplicates) {
    constexpr int kCount = 20'000;
    const std::string last = std::to_string(kCount - 1);
    auto a_sees_b = peer({"subscribe", a_, "robot/b", last});
    auto b_sees_a = peer({"subscribe", b_, "robot/a", last});
    auto a_sees_a = peer({"subscribe", a_, "robot/a", last});  // local, must see no echo
    auto pub_a = peer({"publish", a_, "robot/a"});
    auto pub_b = peer({"publish", b_, "robot/b"});
    const std::vector<std::string> both{"--export", "robot/**", "--import", "robot/**",
                                        "--export", "**",       "--import", "robot/*"};
    auto bridge_a = bridge(a_, both);
    auto bridge_b = bridge(b_, both);

    ASSERT_TRUE(pub_a->write_line("send " + std::to_string(kCount)));
    ASSERT_TRUE(pub_b->write_line("send " + std::to_string(kCount)));
    for (auto* sub : {a_sees_b.get(), b_sees_a.get(), a_sees_a.get()}) {
        const Done done = parse_done(sub->wait_for_line("done"));
        EXPECT_EQ(done.received, static_cast<unsigned>(kCount));
        EXPECT_EQ(done.disorder, 0U);
        EXPECT_EQ(done.corrupt + done.mismatch, 0U);
        EXPECT_EQ(sub->wait(), 0);
    }
    pub_a->close_stdin();
    pub_b->close_stdin();
    EXPECT_EQ(pub_a->wait(), 0);
    EXPECT_EQ(pub_b->wait(), 0);
    for (const json& stats : {stop(*bridge_a), stop(*bridge_b)}) {
        EXPECT_EQ(stats["exported"], kCount) << stats;  // only its own topic's messages
        EXPECT_EQ(stats["imported"], kCount) << stats;  // only the other's
        // Its own, back from NATS, dropped; the last few may still be on their way when it
        // stops, so at most all of them (more would be a loop).
        EXPECT_LE(stats["echoes"].get<int>(), kCount) << stats;
        // Imported ones its exporter read and did not send back (it may not have read the
        // last few yet: the far subscriber, not the exporter, is what the test waited for).
        EXPECT_LE(stats["not_reexported"].get<int>(), kCount) << stats;
        EXPECT_EQ(stats["duplicates"], 0) << stats;
        EXPECT_EQ(stats["gaps"], 0) << stats;
    }
}

TEST_F(BridgeTest, natsServerKilledMidStreamBridgeReconnectsAndCountsTheTrueGap) {
    constexpr int kTotal = 10'000;
    auto subscriber = peer({"subscribe", b_, "robot/telemetry", std::to_string(kTotal - 1)});
    auto publisher = peer({"publish", a_, "robot/telemetry"});
    auto into_b = bridge(b_, {"--import", "robot/**"});
    auto from_a = bridge(a_, {"--export", "robot/**", "--buffer-messages", "1000"});

    ASSERT_TRUE(publisher->write_line("send 5000"));
    EXPECT_EQ(publisher->wait_for_line("sent"), "sent 5000");
    ASSERT_TRUE(subscriber->wait_for_line("got 5000"));
    nats_.stop();
    ASSERT_TRUE(from_a->wait_for_line("disconnected"));
    ASSERT_TRUE(into_b->wait_for_line("disconnected"));
    // 3000 while NATS is away: the exporter keeps 1000, drops the oldest 2000, and the
    // local publisher is never held back (its topic is reliable: it would wait for a
    // reader that stopped reading).
    ASSERT_TRUE(publisher->write_line("send 3000"));
    EXPECT_EQ(publisher->wait_for_line("sent"), "sent 8000");
    nats_.start();
    ASSERT_TRUE(from_a->wait_for_line("reconnected"));
    ASSERT_TRUE(into_b->wait_for_line("reconnected"));
    ASSERT_TRUE(publisher->write_line("send 2000"));
    const Done done = parse_done(subscriber->wait_for_line("done"));
    EXPECT_EQ(done.disorder + done.corrupt + done.mismatch, 0U);

    publisher->close_stdin();
    EXPECT_EQ(publisher->wait(), 0);
    EXPECT_EQ(subscriber->wait(), 0);
    const json out = stop(*from_a);
    const json in = stop(*into_b);
    std::printf("[ counters ] exporter %s\n[ counters ] importer %s\n", out.dump().c_str(),
                in.dump().c_str());
    EXPECT_GE(out["buffer_dropped"].get<int>(), 2000) << out;
    EXPECT_GE(out["reconnects"].get<int>(), 1) << out;
    // Every message missing on B is counted, by the exporter (overrun locally) or by the
    // importer (gaps in the exporter's numbering: dropped from the buffer, or lost in NATS).
    EXPECT_EQ(
        done.received + out["local_lost"].get<std::uint64_t>() + in["gaps"].get<std::uint64_t>(),
        static_cast<std::uint64_t>(kTotal))
        << "out: " << out << "\nin: " << in;
}

TEST_F(BridgeTest, withJetStreamAKilledServerCostsNoMessageAtAll) {
    constexpr int kTotal = 6'000;
    auto subscriber = peer({"subscribe", b_, "robot/telemetry", std::to_string(kTotal - 1)});
    auto publisher = peer({"publish", a_, "robot/telemetry"});
    auto into_b = bridge(b_, {"--jetstream", "--import", "robot/**"});
    auto from_a = bridge(a_, {"--jetstream", "--export", "robot/**"});

    ASSERT_TRUE(publisher->write_line("send 2000"));
    EXPECT_EQ(publisher->wait_for_line("sent"), "sent 2000");
    ASSERT_TRUE(subscriber->wait_for_line("got 2000"));
    nats_.stop();
    ASSERT_TRUE(from_a->wait_for_line("disconnected"));
    ASSERT_TRUE(publisher->write_line("send 2000"));  // kept by the exporter meanwhile
    EXPECT_EQ(publisher->wait_for_line("sent"), "sent 4000");
    nats_.start();  // the same store: the stream and the durable consumer survive
    ASSERT_TRUE(from_a->wait_for_line("reconnected"));
    ASSERT_TRUE(publisher->write_line("send 2000"));
    const Done done = parse_done(subscriber->wait_for_line("done"));
    EXPECT_EQ(done.received, static_cast<unsigned>(kTotal));
    EXPECT_EQ(done.disorder + done.corrupt + done.mismatch, 0U);

    publisher->close_stdin();
    EXPECT_EQ(publisher->wait(), 0);
    EXPECT_EQ(subscriber->wait(), 0);
    const json out = stop(*from_a);
    const json in = stop(*into_b);
    std::printf("[ counters ] exporter %s\n[ counters ] importer %s\n", out.dump().c_str(),
                in.dump().c_str());
    EXPECT_EQ(out["buffer_dropped"], 0) << out;
    EXPECT_EQ(out["exported"], kTotal) << out;
    EXPECT_EQ(in["gaps"], 0) << in;
    EXPECT_EQ(in["imported"], kTotal) << in;
}

TEST_F(BridgeTest, withJetStreamAHostThatWasDownCatchesUpFromTheStream) {
    auto subscriber = peer({"subscribe", b_, "robot/telemetry", "2999"});
    auto publisher = peer({"publish", a_, "robot/telemetry"});
    const std::vector<std::string> import{"--jetstream", "--import", "robot/**"};
    auto into_b = bridge(b_, import);
    auto from_a = bridge(a_, {"--jetstream", "--export", "robot/**"});

    ASSERT_TRUE(publisher->write_line("send 1000"));
    ASSERT_TRUE(subscriber->wait_for_line("got 1000"));
    const json first = stop(*into_b);  // host B's bridge goes down
    EXPECT_EQ(first["imported"], 1000) << first;
    ASSERT_TRUE(publisher->write_line("send 2000"));  // published while B is away
    EXPECT_EQ(publisher->wait_for_line("sent"), "sent 1000");
    EXPECT_EQ(publisher->wait_for_line("sent"), "sent 3000");
    into_b = bridge(b_, import);  // back: resumes from its durable consumer
    const Done done = parse_done(subscriber->wait_for_line("done"));
    EXPECT_EQ(done.received, 3000U);
    EXPECT_EQ(done.disorder + done.corrupt + done.mismatch, 0U);

    publisher->close_stdin();
    EXPECT_EQ(publisher->wait(), 0);
    EXPECT_EQ(subscriber->wait(), 0);
    const json second = stop(*into_b);
    EXPECT_EQ(second["imported"], 2000) << second;
    EXPECT_EQ(stop(*from_a)["exported"], 3000);
}

TEST_F(BridgeTest, typeMismatchOnTheFarSideIsRefusedThereWithAClearError) {
    auto node_b = ipcbus::Node::create({b_});
    ASSERT_TRUE(node_b);
    auto other_type = ipcbus::Publisher<std::uint64_t>::create(*node_b, "robot/telemetry");
    ASSERT_TRUE(other_type);
    auto publisher = peer({"publish", a_, "robot/telemetry"});
    auto into_b = bridge(b_, {"--import", "robot/**"});
    auto from_a = bridge(a_, {"--export", "robot/**"});

    ASSERT_TRUE(publisher->write_line("send 10"));
    const auto refusal = into_b->wait_for_line("refused");
    ASSERT_TRUE(refusal);
    EXPECT_NE(refusal->find("robot/telemetry"), std::string::npos) << *refusal;
    EXPECT_NE(refusal->find("type"), std::string::npos) << *refusal;

    publisher->close_stdin();
    EXPECT_EQ(publisher->wait(), 0);
    const json out = stop(*from_a);
    EXPECT_EQ(out["exported"], 10);
    const json in = stop(*into_b);
    EXPECT_EQ(in["imported"], 0) << in;
    EXPECT_GE(in["refused"].get<int>(), 1) << in;
}

// A message larger than the NATS server takes (max_payload, 1 MiB by default) can never
// go: it is dropped and counted at once, and does not hold up the messages behind it.
TEST_F(BridgeTest, messageOverTheServersMaximumIsDroppedAndCountedNotRetriedForEver) {
    const ipcbus::TopicOptions frames{16, 2 << 20, 0, ipcbus::DeliveryMode::reliable};
    auto node_a = ipcbus::Node::create({a_});
    auto node_b = ipcbus::Node::create({b_});
    ASSERT_TRUE(node_a && node_b);
    auto pub = ipcbus::RawPublisher::create(*node_a, "big/frames", frames);
    auto sub = ipcbus::RawSubscriber::create(*node_b, "big/frames", frames);
    ASSERT_TRUE(pub && sub);
    auto into_b = bridge(b_, {"--import", "big/**"});
    auto from_a = bridge(a_, {"--export", "big/**"});

    for (std::size_t size : {std::size_t{100}, std::size_t{3} << 19, std::size_t{100}}) {
        ASSERT_TRUE(pub->send(std::vector<std::byte>(size)));  // the middle one: 1.5 MiB
    }
    for (std::uint64_t expected : {0U, 2U}) {
        auto got = sub->receive(std::chrono::seconds(60));
        ASSERT_TRUE(got) << ipcbus::to_string(got.error());
        EXPECT_EQ(got->info().origin_sequence, expected);
        EXPECT_EQ(got->data().size(), 100U);
    }

    const json out = stop(*from_a);
    const json in = stop(*into_b);
    EXPECT_EQ(out["refused_by_nats"], 1) << out;
    EXPECT_EQ(out["exported"], 2) << out;
    EXPECT_EQ(in["gaps"], 1) << in;  // and the far side knows one is missing
}

// Anyone can publish on NATS: what the bridge imports is untrusted.
TEST_F(BridgeTest, garbageOnAnImportedSubjectIsCountedAndDroppedNeverACrash) {
    auto subscriber = peer({"subscribe", b_, "robot/telemetry", "0"});
    auto into_b = bridge(b_, {"--import", "robot/**"});
    natsConnection* nc = nullptr;
    ASSERT_EQ(natsConnection_ConnectTo(&nc, nats_.url().c_str()), NATS_OK);
    const std::string subject = std::string("ipcbus.") + kBus + ".robot.telemetry";

    std::vector<std::byte> payload(64);
    ipcbus::test::write_payload(payload, 1, 0);
    ipcbus::bridge::Metadata good{"elsewhere/x",
                                  1,
                                  0,
                                  0,
                                  1,
                                  0,
                                  "ipcbus.bytes",
                                  0,
                                  1,
                                  ipcbus::raw_bytes_type.schema_hash,
                                  64,
                                  ipcbus::DeliveryMode::reliable};
    auto send = [&](const std::string& to, const std::vector<std::byte>& data,
                    const std::vector<std::pair<const char*, std::string>>& headers) {
        natsMsg* msg = nullptr;
        ASSERT_EQ(
            natsMsg_Create(&msg, to.c_str(), nullptr, reinterpret_cast<const char*>(data.data()),
                           static_cast<int>(data.size())),
            NATS_OK);
        for (const auto& [key, value] : headers) natsMsgHeader_Set(msg, key, value.c_str());
        EXPECT_EQ(natsConnection_PublishMsg(nc, msg), NATS_OK);
        natsMsg_Destroy(msg);
    };
    auto with_good_headers = [&](const ipcbus::bridge::Metadata& meta) {
        natsMsg* msg = nullptr;
        natsMsg_Create(&msg, "x", nullptr, nullptr, 0);
        ipcbus::bridge::write_metadata(msg, meta, "robot/telemetry", false);
        const char* m = nullptr;
        const char* t = nullptr;
        const char* mode = nullptr;
        natsMsgHeader_Get(msg, ipcbus::bridge::kMessageHeader, &m);
        natsMsgHeader_Get(msg, ipcbus::bridge::kTypeHeader, &t);
        natsMsgHeader_Get(msg, ipcbus::bridge::kModeHeader, &mode);
        std::vector<std::pair<const char*, std::string>> out{{ipcbus::bridge::kMessageHeader, m},
                                                             {ipcbus::bridge::kTypeHeader, t},
                                                             {ipcbus::bridge::kModeHeader, mode}};
        natsMsg_Destroy(msg);
        return out;
    };
    const auto headers = with_good_headers(good);
    auto long_origin = good;
    long_origin.origin = std::string(300, 'o');
    send(subject, payload, {});                                                       // none
    send(subject, payload, {{"Ipcbus-Msg", "hello"}, headers[1]});                    // wrong
    send(subject, payload, {headers[0], {"Ipcbus-Type", "1 2 zz 64 t"}});             // wrong
    send(subject, payload, {headers[0], {"Ipcbus-Type", "0 1 0 99999999999999 t"}});  // range
    send(subject, std::vector<std::byte>(1000), headers);                             // oversized
    send(subject + "%ZZ", payload, headers);                                          // subject
    send(subject, payload, with_good_headers(long_origin));                           // origin
    send(subject, payload, {headers[0], headers[1], {"Ipcbus-Mode", "telepathy"}});   // mode
    send(subject, payload, headers);  // then one good message: the bridge still works
    natsConnection_Flush(nc);
    natsConnection_Destroy(nc);

    const Done done = parse_done(subscriber->wait_for_line("done"));
    EXPECT_EQ(done.received, 1U);
    EXPECT_EQ(done.corrupt + done.mismatch, 0U);
    EXPECT_EQ(subscriber->wait(), 0);
    const json in = stop(*into_b);
    EXPECT_EQ(in["garbage"], 8) << in;
    EXPECT_EQ(in["imported"], 1) << in;
}

}  // namespace
