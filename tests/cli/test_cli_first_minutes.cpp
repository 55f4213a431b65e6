// SPDX-License-Identifier: Apache-2.0
// The CLI as a newcomer meets it in the first ten minutes: mistyped commands and numbers,
// pub saying what it did, payloads shown the way asked, patterns, and every wait bounded.
// Each test drives the ipcbus tool as a shell would and checks exit codes, messages and
// parsed JSON; it synchronises on what the processes print and on subscriber counts.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdint>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "cli_test.hpp"

namespace {

using ipcbus::test::bytes_of;
using ipcbus::test::CliOutcome;
using ipcbus::test::CliProcess;
using ipcbus::test::CliTest;
using ipcbus::test::eventually;
using ipcbus::test::is_echo_line;
using ipcbus::test::lines_of;
using ipcbus::test::run_cli;
using nlohmann::json;

// The state letter of /proc/PID/stat: 'T' once a SIGSTOP has taken effect.
char process_state(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto end_of_name = text.rfind(')');
    return end_of_name == std::string::npos || end_of_name + 2 >= text.size()
               ? '?'
               : text[end_of_name + 2];
}

// A reliable topic whose ring a reader that takes nothing fills with four messages.
ipcbus::TopicOptions four_slot_reliable() {
    ipcbus::TopicOptions reliable;
    reliable.capacity = 4;
    reliable.slot_size = 64;
    reliable.mode = ipcbus::DeliveryMode::reliable;
    reliable.history_depth = 0;  // all four slots for messages, none kept back for history
    return reliable;
}

// --- mistyped commands and numbers ----------------------------------------------------------

// `ipcbus topic list` once said only "A subcommand is required".
TEST_F(CliTest, anUnknownCommandSuggestsTheClosestOne) {
    const CliOutcome typo = run_cli({"topic", "list"});
    EXPECT_EQ(typo.exit_code, 2);
    EXPECT_EQ(typo.err, "ipcbus: unknown command 'topic' (did you mean 'topics'?)\n");
    const CliOutcome nonsense = run_cli({"--domain", domain_, "frobnicate"});
    EXPECT_EQ(nonsense.exit_code, 2);
    EXPECT_TRUE(
        nonsense.err.starts_with("ipcbus: unknown command 'frobnicate' (commands: topics, "))
        << nonsense.err;
}

// `info '../x'` once said "no such topic": the name can never be a topic, and it says so.
TEST_F(CliTest, infoOfAnInvalidNameSaysWhyItIsInvalid) {
    const CliOutcome info = run({"info", "../x"});
    expect_one_error_line(info, "topic '../x': invalid name: '.' or '..' level");
    EXPECT_EQ(info.exit_code, 1);
}

// `pub --rate -5` once printed a 309-digit range; `echo --count -1` was accepted.
TEST_F(CliTest, numbersOutOfRangeAreRefusedInWords) {
    const CliOutcome rate = run({"pub", "cli/range", "x", "--rate", "-5"});
    expect_one_error_line(rate, "--rate: must be a number of 0 or more, not '-5'");
    EXPECT_EQ(rate.exit_code, 2) << "a bad command line exits 2";
    const CliOutcome count = run({"echo", "cli/range", "--count", "-1"});
    expect_one_error_line(count, "--count: must be a whole number 0 or more, not '-1'");
    const CliOutcome zero = run({"pub", "cli/range", "x", "--count", "0"});
    expect_one_error_line(zero, "--count: must be a whole number 1 or more, not '0'");
    EXPECT_EQ(listed_topic("cli/range"), nullptr) << "a refused command created the topic";
}

// --- pub says what it did --------------------------------------------------------------------

// `ipcbus pub chat/hello "hi there"` once printed nothing, even when the message was gone.
TEST_F(CliTest, pubConfirmsEachMessageAndHowManySubscribersGotIt) {
    const CliOutcome alone = run({"pub", "chat/hello", "hi there"});
    ASSERT_EQ(alone.exit_code, 0) << alone.err;
    EXPECT_EQ(alone.out, "published 8 bytes to chat/hello (seq 0, 0 subscribers)\n");

    auto sub = ipcbus::RawSubscriber::create(make_node(), "chat/hello");
    ASSERT_TRUE(sub) << sub.error().message;
    // The first topic went with its last holder; this one is the subscriber's.
    const CliOutcome heard = run({"pub", "chat/hello", "x", "--count", "2"});
    ASSERT_EQ(heard.exit_code, 0) << heard.err;
    EXPECT_EQ(heard.out,
              "published 1 byte to chat/hello (seq 0, 1 subscriber)\n"
              "published 1 byte to chat/hello (seq 1, 1 subscriber)\n");

    const CliOutcome quiet = run({"pub", "chat/hello", "x", "-q"});
    ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
    EXPECT_EQ(quiet.out, "");

    const CliOutcome as_json = run({"pub", "chat/hello", "four", "--json"});
    ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
    const json line = json::parse(as_json.out);
    EXPECT_EQ(line.at("topic"), "chat/hello");
    EXPECT_EQ(line.at("seq"), 3);
    EXPECT_EQ(line.at("size"), 4);
    EXPECT_EQ(line.at("subscribers"), 1);
}

TEST_F(CliTest, pubWaitingForSubscribersSaysSoAndGivesUpAtItsTimeout) {
    const CliOutcome pub =
        run({"pub", "cli/nobody", "hi", "--wait-subscribers", "1", "--timeout", "0.2"});
    EXPECT_EQ(pub.exit_code, 1);
    EXPECT_EQ(pub.out, "");
    const auto lines = lines_of(pub.err);
    ASSERT_EQ(lines.size(), 2U) << pub.err;
    EXPECT_EQ(lines[0], "waiting for 1 subscriber on 'cli/nobody' (0 attached)...");
    EXPECT_EQ(lines[1],
              "ipcbus: topic 'cli/nobody': timed out after 0.2 s waiting for 1 subscriber "
              "(0 attached); nothing was sent");
}

// A reliable pub held back by a stopped reader once blocked for ever, silently.
TEST_F(CliTest, pubHeldBackByAStoppedReaderSaysWhoToAskAndGivesUpAtItsTimeout) {
    const ipcbus::Node node = make_node();
    auto creator = ipcbus::RawPublisher::create(node, "cli/held-back", four_slot_reliable());
    ASSERT_TRUE(creator) << creator.error().message;
    auto stalled = ipcbus::RawSubscriber::create(node, "cli/held-back");  // never takes
    ASSERT_TRUE(stalled) << stalled.error().message;

    const CliOutcome pub =
        run({"pub", "cli/held-back", "m", "--count", "5", "--timeout", "0.2", "-q"});
    EXPECT_EQ(pub.exit_code, 1);
    const auto lines = lines_of(pub.err);
    ASSERT_EQ(lines.size(), 2U) << pub.err;
    EXPECT_TRUE(lines[0].starts_with("waiting: reliable topic 'cli/held-back' is full"))
        << lines[0];
    EXPECT_EQ(lines[1],
              "ipcbus: topic 'cli/held-back': timed out after 0.2 s: the reliable ring is full "
              "and a reader does not take its messages (ipcbus info -v cli/held-back names it); "
              "the message was not sent");
    // The four that fitted were sent, and the reader still gets every one of them.
    std::uint64_t taken = 0;
    for (;;) {
        auto sample = stalled->take();
        ASSERT_TRUE(sample);
        if (!sample->has_value()) break;
        ++taken;
    }
    EXPECT_EQ(taken, 4U);
}

// The question an operator asks of a stuck reliable topic: who is holding it back?
TEST_F(CliTest, infoNamesTheStoppedReaderHoldingAReliableTopicBack) {
    const ipcbus::Node node = make_node();
    auto creator = ipcbus::RawPublisher::create(node, "cli/stuck", four_slot_reliable());
    ASSERT_TRUE(creator) << creator.error().message;
    CliProcess reader(in_domain({"echo", "cli/stuck", "--count", "5", "--no-payload"}));
    CliProcess slow_reader(in_domain({"echo", "cli/stuck", "--count", "5"}));
    ASSERT_TRUE(eventually([&] { return creator->subscriber_count() == 2; }));
    slow_reader.send_signal(SIGSTOP);
    ASSERT_TRUE(eventually([&] { return process_state(slow_reader.pid()) == 'T'; }));

    CliProcess pub(in_domain({"pub", "cli/stuck", "m", "--count", "5", "-q"}));
    EXPECT_TRUE(pub.read_error_line().value_or("").starts_with("waiting: reliable topic"));
    json held;
    ASSERT_TRUE(eventually([&] {  // between two waits of pub the ring is looked at again
        const CliOutcome info = run({"info", "cli/stuck", "--json"});
        held = json::parse(info.out).at("holding_back");
        return !held.is_null();
    }));
    EXPECT_EQ(held.at("publisher_pid"), pub.pid());
    EXPECT_EQ(held.at("reader_pid"), slow_reader.pid());
    EXPECT_EQ(held.at("reader_state"), "stopped");
    EXPECT_EQ(held.at("reader_name"), "ipcbus");

    const CliOutcome text = run({"info", "cli/stuck", "-v"});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("held by reader pid " + std::to_string(slow_reader.pid()) +
                            " (ipcbus, stopped)"),
              std::string::npos)
        << text.out;

    slow_reader.send_signal(SIGCONT);  // and everything flows again, nothing lost
    EXPECT_EQ(pub.finish().exit_code, 0);
    EXPECT_EQ(lines_of(slow_reader.finish().out).size(), 5U);
    EXPECT_EQ(reader.finish().exit_code, 0);
}

// The ROS habit: "/md/ticks" is the topic md/ticks.
TEST_F(CliTest, aLeadingSlashIsDropped) {
    auto sub = ipcbus::RawSubscriber::create(make_node(), "cli/slash");  // waits for the topic
    ASSERT_TRUE(sub) << sub.error().message;
    const CliOutcome pub = run({"pub", "/cli/slash", "x"});
    ASSERT_EQ(pub.exit_code, 0) << pub.err;
    EXPECT_EQ(pub.out, "published 1 byte to cli/slash (seq 0, 1 subscriber)\n");
    const CliOutcome info = run({"info", "/cli/slash", "--json"});
    ASSERT_EQ(info.exit_code, 0) << info.err;
    EXPECT_EQ(json::parse(info.out).at("name"), "cli/slash");
}

// --- echo shows payloads the way asked ------------------------------------------------------

class EchoPayloadTest : public CliTest {
  protected:
    void SetUp() override {
        CliTest::SetUp();
        auto opened = ipcbus::RawPublisher::create(node_, "cli/shown", {16, 16384, 0});
        ASSERT_TRUE(opened) << opened.error().message;
        pub_.emplace(std::move(*opened));
    }

    void TearDown() override {
        pub_.reset();  // the base checks that the daemon holds no topic any more
        CliTest::TearDown();
    }

    /// Runs `echo cli/shown ARGS --count 1`, sends `payload` once it is attached, and
    /// returns what it printed.
    CliOutcome echo_one(std::vector<std::string> args, const std::string& payload) {
        args.insert(args.begin(), {"echo", "cli/shown", "--count", "1"});
        CliProcess echo(in_domain(args));
        EXPECT_TRUE(eventually([&] { return pub_->subscriber_count() == 1; }));
        EXPECT_TRUE(pub_->send(bytes_of(payload)));
        return echo.finish();
    }

    ipcbus::Node node_ = make_node();
    std::optional<ipcbus::RawPublisher> pub_;
};

TEST_F(EchoPayloadTest, hexShowsEveryByteInHex) {
    const CliOutcome echo = echo_one({"--hex"}, "hi!");
    ASSERT_EQ(echo.exit_code, 0) << echo.err;
    EXPECT_PRED4(is_echo_line, lines_of(echo.out).at(0), "cli/shown", 0, ": [3 bytes] 686921");
}

TEST_F(EchoPayloadTest, textEscapesBytesThatAreNotText) {
    const CliOutcome echo = echo_one({"--text"}, std::string("a\x01\\b", 4));
    ASSERT_EQ(echo.exit_code, 0) << echo.err;
    EXPECT_PRED4(is_echo_line, lines_of(echo.out).at(0), "cli/shown", 0, R"(: a\x01\\b)");
}

TEST_F(EchoPayloadTest, noPayloadShowsOnlyTheSize) {
    const CliOutcome echo = echo_one({"--no-payload"}, "secret");
    ASSERT_EQ(echo.exit_code, 0) << echo.err;
    EXPECT_PRED4(is_echo_line, lines_of(echo.out).at(0), "cli/shown", 0, " [6 bytes]");
}

TEST_F(EchoPayloadTest, maxBytesCutsThePayloadAndJsonSaysItWasCut) {
    const CliOutcome echo = echo_one({"--max-bytes", "5", "--json"}, "hello world");
    ASSERT_EQ(echo.exit_code, 0) << echo.err;
    const json line = json::parse(echo.out);
    EXPECT_EQ(line.at("topic"), "cli/shown");
    EXPECT_EQ(line.at("size"), 11);
    EXPECT_EQ(line.at("payload"), "hello");
    EXPECT_EQ(line.at("truncated"), true);
    // When it was published, in UTC, and how long ago.
    EXPECT_TRUE(line.at("time").get<std::string>().ends_with("Z")) << line;
    EXPECT_GE(line.at("age_ns").get<std::int64_t>(), 0);
}

// `echo camera/front --json` once wrote every byte of every frame as base64.
TEST_F(EchoPayloadTest, jsonShowsAtMostFourKilobytesUnlessTold) {
    const CliOutcome echo = echo_one({"--json"}, std::string(10000, 'x'));
    ASSERT_EQ(echo.exit_code, 0) << echo.err;
    const json line = json::parse(echo.out);
    EXPECT_EQ(line.at("size"), 10000);
    EXPECT_EQ(line.at("payload").get<std::string>().size(), 4096U);
    EXPECT_EQ(line.at("truncated"), true);
}

TEST_F(EchoPayloadTest, rawWritesThePayloadsBytesAndNothingElse) {
    const CliOutcome echo = echo_one({"--raw"}, std::string("\x00\xffraw\n", 6));
    ASSERT_EQ(echo.exit_code, 0) << echo.err;
    EXPECT_EQ(echo.out, std::string("\x00\xffraw\n", 6));
}

TEST_F(EchoPayloadTest, payloadModesExcludeEachOther) {
    const CliOutcome both = run({"echo", "cli/shown", "--hex", "--text"});
    EXPECT_EQ(both.exit_code, 2);
    EXPECT_NE(both.err.find("excludes"), std::string::npos) << both.err;
}

// "(lost 1 messages)" once; now the count, the right word and the topic.
TEST_F(CliTest, echoSaysHowManyMessagesItLostAndWhere) {
    const ipcbus::Node node = make_node();
    auto pub = ipcbus::RawPublisher::create(node, "cli/lossy", {16, 64, 0});
    ASSERT_TRUE(pub) << pub.error().message;
    CliProcess echo(in_domain({"echo", "cli/lossy", "--count", "16"}));
    ASSERT_TRUE(eventually([&] { return pub->subscriber_count() == 1; }));
    // Stopped, it falls a whole ring plus one behind: exactly one message is overwritten.
    echo.send_signal(SIGSTOP);
    ASSERT_TRUE(eventually([&] { return process_state(echo.pid()) == 'T'; }));
    for (int i = 0; i < 17; ++i) ASSERT_TRUE(pub->send(bytes_of("m" + std::to_string(i))));
    echo.send_signal(SIGCONT);
    EXPECT_EQ(echo.read_line(), "(lost 1 message on cli/lossy)");
    EXPECT_PRED4(is_echo_line, echo.read_line(), "cli/lossy", 1, ": m1");
    const CliOutcome end = echo.finish();
    EXPECT_EQ(end.exit_code, 0) << end.err;
}

// --- doctor -------------------------------------------------------------------------------

TEST_F(CliTest, doctorJsonChecksTheKernelFeaturesAndTheDaemonsVersion) {
    const CliOutcome doctor = run({"doctor", "--json"});
    EXPECT_EQ(doctor.exit_code, 0) << doctor.err;
    std::set<std::string> names;
    for (const json& check : json::parse(doctor.out)) {
        names.insert(check.at("check"));
        const std::string status = check.at("status");
        EXPECT_TRUE(status == "ok" || status == "warn") << check;
        if (check.at("check") == "daemon") {
            EXPECT_NE(check.at("message").get<std::string>().find("ipcbusd " +
                                                                  std::string(ipcbus::version())),
                      std::string::npos)
                << check;
        }
    }
    EXPECT_EQ(names, (std::set<std::string>{"kernel", "membarrier", "futex_waitv", "memory_cgroup",
                                            "memlock", "open_files", "systemd", "daemon"}));
}

// --- hz ----------------------------------------------------------------------------------

TEST_F(CliTest, hzJsonReportsTheSpreadOfTheIntervalsBetweenMessages) {
    auto pub = ipcbus::RawPublisher::create(make_node(), "cli/jitter");
    ASSERT_TRUE(pub) << pub.error().message;
    CliProcess hz(in_domain({"hz", "cli/jitter", "--json", "--count", "3"}));
    ASSERT_TRUE(eventually([&] { return pub->subscriber_count() == 1; }));
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(pub->send(bytes_of("tick")));

    // The burst lands in one report or straddles two; any later report sees none of it.
    std::uint64_t intervals = 0, messages_lines = 0;
    for (const json& line : read_json_lines(hz, 3)) {
        EXPECT_GE(line.at("rate_hz").get<double>(), 0.0);
        EXPECT_GT(line.at("window_s").get<double>(), 0.0);
        const json& spread = line.at("interval_ns");
        if (spread.is_null()) {
            EXPECT_EQ(line.at("intervals"), 0);
            continue;
        }
        ++messages_lines;
        intervals += line.at("intervals").get<std::uint64_t>();
        EXPECT_LE(spread.at("min").get<double>(), spread.at("mean").get<double>());
        EXPECT_LE(spread.at("mean").get<double>(), spread.at("max").get<double>());
        EXPECT_GE(spread.at("stddev").get<double>(), 0.0);
    }
    EXPECT_GE(messages_lines, 1U);
    EXPECT_EQ(intervals, 49U) << "50 messages, 49 gaps between them";
    EXPECT_EQ(hz.finish().exit_code, 0);
}

// --- patterns --------------------------------------------------------------------------------

TEST_F(CliTest, echoOfAPatternFollowsEveryMatchingTopicIncludingLaterOnes) {
    CliProcess echo(in_domain({"echo", "cli/p/*", "--json", "--count", "2"}));
    EXPECT_EQ(echo.read_error_line(), "waiting for topics matching 'cli/p/*' (none exists yet)...");
    const ipcbus::Node node = make_node();
    auto other = ipcbus::RawPublisher::create(node, "cli/q/c");  // does not match
    auto a = ipcbus::RawPublisher::create(node, "cli/p/a");
    auto b = ipcbus::RawPublisher::create(node, "cli/p/b");
    ASSERT_TRUE(other && a && b);
    ASSERT_TRUE(
        eventually([&] { return a->subscriber_count() == 1 && b->subscriber_count() == 1; }));
    EXPECT_EQ(other->subscriber_count(), 0U);
    ASSERT_TRUE(other->send(bytes_of("not me")));
    ASSERT_TRUE(a->send(bytes_of("from a")));
    ASSERT_TRUE(b->send(bytes_of("from b")));

    std::set<std::pair<std::string, std::string>> seen;
    for (const json& line : read_json_lines(echo, 2)) {
        seen.emplace(line.at("topic"), line.at("payload"));
    }
    EXPECT_EQ(seen, (std::set<std::pair<std::string, std::string>>{{"cli/p/a", "from a"},
                                                                   {"cli/p/b", "from b"}}));
    EXPECT_EQ(echo.finish().exit_code, 0);
}

TEST_F(CliTest, topicsListsOnlyThoseMatchingAPattern) {
    const ipcbus::Node node = make_node();
    auto deep = ipcbus::RawPublisher::create(node, "cli/md/eu/ticks");
    auto shallow = ipcbus::RawPublisher::create(node, "cli/md/quotes");
    auto elsewhere = ipcbus::RawPublisher::create(node, "cli/orders");
    ASSERT_TRUE(deep && shallow && elsewhere);
    auto names = [&](const std::string& pattern) {
        const CliOutcome topics = run({"topics", pattern, "--json"});
        EXPECT_EQ(topics.exit_code, 0) << topics.err;
        std::set<std::string> listed;
        for (const json& topic : json::parse(topics.out)) listed.insert(topic.at("name"));
        return listed;
    };
    EXPECT_EQ(names("cli/md/*"), (std::set<std::string>{"cli/md/quotes"}));
    EXPECT_EQ(names("cli/md/**"), (std::set<std::string>{"cli/md/eu/ticks", "cli/md/quotes"}));
    EXPECT_EQ(names("cli/orders"), (std::set<std::string>{"cli/orders"}));
    EXPECT_EQ(names("cli/nothing/**"), (std::set<std::string>{}));
}

}  // namespace
