// SPDX-License-Identifier: Apache-2.0
// The ipcbus command-line tool, run as real processes in a domain of each test's own.
// Tests synchronise on what the processes print and on subscriber counts (pub
// --wait-subscribers, or the test's own publisher), never on sleeps.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "cli_test.hpp"
#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"

namespace {

using ipcbus::test::bytes_of;
using ipcbus::test::CliOutcome;
using ipcbus::test::CliProcess;
using ipcbus::test::CliTest;
using ipcbus::test::eventually;
using ipcbus::test::is_echo_line;
using ipcbus::test::lines_of;
using ipcbus::test::Pose;
using ipcbus::test::run_cli;
using nlohmann::json;

// --- pub and echo ---------------------------------------------------------------------------

TEST_F(CliTest, linesPublishedFromStdinReachEveryEchoProcessInOrder) {
    constexpr std::size_t kLines = 200;
    std::vector<std::unique_ptr<CliProcess>> echoes;
    for (int i = 0; i < 3; ++i) echoes.push_back(start_json_echo("cli/lines", kLines));
    std::string input;
    for (std::size_t i = 0; i < kLines; ++i) input += "line " + std::to_string(i) + "\n";

    const CliOutcome pub = run({"pub", "cli/lines", "--wait-subscribers", "3"}, input);
    ASSERT_EQ(pub.exit_code, 0) << pub.err;

    for (auto& echo : echoes) {
        const auto messages = read_json_lines(*echo, kLines);
        ASSERT_EQ(messages.size(), kLines);
        for (std::size_t i = 0; i < kLines; ++i) {
            EXPECT_EQ(messages[i].at("seq"), i);
            EXPECT_EQ(messages[i].at("origin_seq"), i);  // published here, not bridged
            EXPECT_EQ(messages[i].at("payload"), "line " + std::to_string(i));
            EXPECT_EQ(messages[i].at("lost"), 0);
            EXPECT_FALSE(messages[i].contains("encoding"));
        }
        const CliOutcome end = echo->finish();
        EXPECT_EQ(end.exit_code, 0) << end.err;
    }
}

TEST_F(CliTest, pubRepeatsTextAndPadsItToSize) {
    auto echo = start_json_echo("cli/padded", 3);
    const CliOutcome pub = run(
        {"pub", "cli/padded", "hi", "--count", "3", "--size", "100", "--wait-subscribers", "1"});
    ASSERT_EQ(pub.exit_code, 0) << pub.err;
    for (const json& message : read_json_lines(*echo, 3)) {
        EXPECT_EQ(message.at("size"), 100);
        EXPECT_EQ(message.at("payload"), "hi" + std::string(98, '\0'));
    }
    EXPECT_EQ(echo->finish().exit_code, 0);
}

TEST_F(CliTest, pubRefusesMessagesLargerThanTheTopicsSlots) {
    auto creator = ipcbus::RawPublisher::create(make_node(), "cli/small", {16, 8, 0});
    ASSERT_TRUE(creator) << creator.error().message;
    const CliOutcome pub = run({"pub", "cli/small", "more than eight bytes"});
    expect_one_error_line(pub, "does not fit");
}

TEST_F(CliTest, echoJsonCarriesNonUtf8PayloadsAsBase64) {
    auto pub = ipcbus::RawPublisher::create(make_node(), "cli/binary");
    ASSERT_TRUE(pub) << pub.error().message;
    auto echo = start_json_echo("cli/binary", 1);
    ASSERT_TRUE(eventually([&] { return pub->subscriber_count() == 1; }));
    const std::byte not_utf8[] = {std::byte{0xff}, std::byte{0x00}, std::byte{0x41}};
    ASSERT_TRUE(pub->send(not_utf8));

    const auto messages = read_json_lines(*echo, 1);
    ASSERT_EQ(messages.size(), 1U);
    EXPECT_EQ(messages[0].at("size"), 3);
    EXPECT_EQ(messages[0].at("encoding"), "base64");
    EXPECT_EQ(messages[0].at("payload"), "/wBB");
    EXPECT_EQ(echo->finish().exit_code, 0);
}

TEST_F(CliTest, echoPrintsTextAsTextAndBinaryAsHex) {
    auto pub = ipcbus::RawPublisher::create(make_node(), "cli/plain");
    ASSERT_TRUE(pub) << pub.error().message;
    CliProcess echo(in_domain({"echo", "cli/plain", "--count", "2"}));
    ASSERT_TRUE(eventually([&] { return pub->subscriber_count() == 1; }));
    ASSERT_TRUE(pub->send(bytes_of("hello")));
    const std::byte binary[] = {std::byte{0x01}, std::byte{0xfe}};
    ASSERT_TRUE(pub->send(binary));

    EXPECT_PRED4(is_echo_line, echo.read_line(), "cli/plain", 0, ": hello");
    EXPECT_PRED4(is_echo_line, echo.read_line(), "cli/plain", 1, ": [2 bytes] 01fe");
    EXPECT_EQ(echo.finish().exit_code, 0);
}

TEST_F(CliTest, echoStopsCleanlyOnCtrlC) {
    auto pub = ipcbus::RawPublisher::create(make_node(), "cli/forever");
    ASSERT_TRUE(pub) << pub.error().message;
    CliProcess echo(in_domain({"echo", "cli/forever"}));
    ASSERT_TRUE(eventually([&] { return pub->subscriber_count() == 1; }));
    echo.send_signal(SIGINT);
    const CliOutcome end = echo.finish();
    EXPECT_TRUE(end.exited) << "killed by signal " << end.signal;
    EXPECT_EQ(end.exit_code, 128 + SIGINT);
    EXPECT_EQ(end.err, "");
}

// Two echo processes in one consumer group on a reliable topic: every line goes to exactly
// one of them, and `info` shows the group.
TEST_F(CliTest, echoProcessesInOneGroupShareEveryLineExactlyOnce) {
    constexpr std::size_t kLines = 100;
    std::vector<std::unique_ptr<CliProcess>> members;
    for (int i = 0; i < 2; ++i) {
        members.push_back(std::make_unique<CliProcess>(
            in_domain({"echo", "cli/queue", "--group", "workers", "--reliable", "--json"})));
    }
    std::string input;
    for (std::size_t i = 0; i < kLines; ++i) input += "task " + std::to_string(i) + "\n";
    const CliOutcome pub =
        run({"pub", "cli/queue", "--reliable", "--wait-subscribers", "2"}, input);
    ASSERT_EQ(pub.exit_code, 0) << pub.err;

    // Once the group's cursor is past the last line, every line has been handed to a member;
    // a member prints what it took before it looks at the stop flag.
    const ipcbus::Node node = make_node();
    ASSERT_TRUE(eventually([&] {
        auto topics = node.list_topics();
        return topics && topics->size() == 1 && (*topics)[0].groups.size() == 1 &&
               (*topics)[0].groups[0].next_sequence == kLines;
    }));
    const CliOutcome info = run({"info", "cli/queue", "--json"});
    ASSERT_EQ(info.exit_code, 0) << info.err;
    const json topic = json::parse(info.out);
    EXPECT_EQ(topic.at("mode"), "reliable");
    ASSERT_EQ(topic.at("groups").size(), 1U);
    EXPECT_EQ(topic.at("groups")[0].at("name"), "workers");
    EXPECT_EQ(topic.at("groups")[0].at("members"), 2);
    EXPECT_EQ(topic.at("groups")[0].at("next_sequence"), kLines);
    EXPECT_EQ(topic.at("groups")[0].at("lost"), 0);
    ASSERT_EQ(topic.at("readers").size(), 2U);
    for (const json& reader : topic.at("readers")) EXPECT_EQ(reader.at("group"), "workers");

    std::vector<std::string> shared;
    for (auto& member : members) {
        member->send_signal(SIGINT);
        const CliOutcome end = member->finish();
        EXPECT_EQ(end.exit_code, 128 + SIGINT) << end.err;
        for (const auto& line : lines_of(end.out)) {
            shared.push_back(json::parse(line).at("payload").get<std::string>());
        }
    }
    std::vector<std::string> expected;
    for (std::size_t i = 0; i < kLines; ++i) expected.push_back("task " + std::to_string(i));
    std::sort(shared.begin(), shared.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(shared, expected) << "a line was lost or delivered to both members";
}

TEST_F(CliTest, echoWithHistoryStartsWithTheLastMessagesPublished) {
    const ipcbus::Node node = make_node();
    auto pub = ipcbus::RawPublisher::create(node, "cli/state");
    ASSERT_TRUE(pub) << pub.error().message;
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(pub->send(bytes_of("state " + std::to_string(i))));

    const CliOutcome echo = run({"echo", "cli/state", "--history", "3", "--count", "3", "--json"});
    ASSERT_EQ(echo.exit_code, 0) << echo.err;
    const auto lines = lines_of(echo.out);
    ASSERT_EQ(lines.size(), 3U) << echo.out;
    for (std::size_t i = 0; i < 3; ++i) {
        const json message = json::parse(lines[i]);
        EXPECT_EQ(message.at("seq"), 7 + i);
        EXPECT_EQ(message.at("payload"), "state " + std::to_string(7 + i));
    }
}

TEST_F(CliTest, pubReliableRefusesAnOverwriteTopic) {
    auto creator = ipcbus::RawPublisher::create(make_node(), "cli/lossy");  // overwrite mode
    ASSERT_TRUE(creator) << creator.error().message;
    const CliOutcome pub = run({"pub", "cli/lossy", "text", "--reliable"});
    expect_one_error_line(pub, "reliable");
    EXPECT_NE(pub.err.find("cli/lossy"), std::string::npos) << pub.err;
}

// `ipcbus echo` started before the publisher (the ros2/nats habit) once created the topic
// as raw bytes, and the typed publisher was refused with a type mismatch. Now echo waits,
// says so, and the publisher's type is the topic's.
TEST_F(CliTest, echoStartedBeforeATypedPublisherWaitsAndLeavesTheTypeToIt) {
    CliProcess echo(in_domain({"echo", "cli/typed", "--json", "--count", "2"}));
    EXPECT_EQ(echo.read_error_line(),
              "waiting for topic 'cli/typed' (no publisher has created it yet)...");
    EXPECT_EQ(listed_topic("cli/typed"), nullptr) << "echo created the topic";
    struct Tick {
        std::uint64_t sequence;
        double price;
    };
    auto pub = ipcbus::Publisher<Tick>::create(make_node(), "cli/typed");
    ASSERT_TRUE(pub) << pub.error().message;
    EXPECT_EQ(pub->subscriber_count(), 1U);
    ASSERT_TRUE(pub->send(Tick{1, 2.5}));
    ASSERT_TRUE(pub->send(Tick{2, 3.5}));
    for (const json& message : read_json_lines(echo, 2)) {
        EXPECT_EQ(message.at("size"), sizeof(Tick));
    }
    const CliOutcome end = echo.finish();
    EXPECT_EQ(end.exit_code, 0) << end.err;
    EXPECT_EQ(listed_topic("cli/typed").at("type"),
              std::string(ipcbus::TypeDescriptor<Tick>::name));
}

// A typo in `ipcbus hz md/tickz` once created a 4 MiB topic and printed "rate 0.0 msg/s".
TEST_F(CliTest, hzOnATopicNobodyPublishesWaitsAndCreatesNothing) {
    CliProcess hz(in_domain({"hz", "cli/tickz"}));
    EXPECT_EQ(hz.read_error_line(),
              "waiting for topic 'cli/tickz' (no publisher has created it yet)...");
    const CliOutcome topics = run({"topics", "--json"});
    ASSERT_EQ(topics.exit_code, 0) << topics.err;
    EXPECT_EQ(json::parse(topics.out), json::array()) << "hz created a topic";
    hz.send_signal(SIGINT);
    const CliOutcome end = hz.finish();
    EXPECT_EQ(end.out, "") << "no rate printed for a topic that does not exist";
}

// --- topics, info, hz ------------------------------------------------------------------------

// `ipcbus --domain X topics` (the habit of nats and kubectl) once failed with "The
// following arguments were not expected: X --domain".
TEST_F(CliTest, domainBeforeTheCommandNameIsTheCommandsDomain) {
    const ipcbus::Node node = make_node();
    auto pub = ipcbus::RawPublisher::create(node, "cli/global-domain");
    ASSERT_TRUE(pub);
    const CliOutcome topics = run_cli({"--domain", domain_, "topics", "--json"});
    ASSERT_EQ(topics.exit_code, 0) << topics.err;
    bool listed = false;
    for (const json& topic : json::parse(topics.out))
        listed |= topic.at("name") == "cli/global-domain";
    EXPECT_TRUE(listed) << topics.out;
    // The command's own --domain wins over one before the command name.
    const CliOutcome own =
        run_cli({"--domain", "elsewhere", "topics", "--json", "--domain", domain_});
    ASSERT_EQ(own.exit_code, 0) << own.err;
    EXPECT_NE(own.out.find("cli/global-domain"), std::string::npos) << own.out;
}

TEST_F(CliTest, versionIsPrintedWithoutADaemon) {
    const CliOutcome version = run_cli({"--version"});
    EXPECT_EQ(version.exit_code, 0) << version.err;
    EXPECT_EQ(version.out, "ipcbus " + std::string(ipcbus::version()) + "\n");
}

TEST_F(CliTest, topicsJsonCountsThePublishersAndSubscribersHoldingATopic) {
    const ipcbus::Node node = make_node();
    auto pub = ipcbus::RawPublisher::create(node, "cli/held", {64, 256, 0});
    auto sub1 = ipcbus::RawSubscriber::create(node, "cli/held");
    auto sub2 = ipcbus::RawSubscriber::create(node, "cli/held");
    ASSERT_TRUE(pub && sub1 && sub2);

    const json topic = listed_topic("cli/held");
    ASSERT_FALSE(topic.is_null());
    EXPECT_EQ(topic.at("type"), "ipcbus.bytes");
    EXPECT_EQ(topic.at("slot_size"), 256);
    EXPECT_EQ(topic.at("capacity"), 64);
    EXPECT_EQ(topic.at("mode"), "overwrite");
    EXPECT_EQ(topic.at("publishers"), 1);
    EXPECT_EQ(topic.at("subscribers"), 2);
    EXPECT_GE(topic.at("rate_hz").get<double>(), 0.0);
}

TEST_F(CliTest, infoJsonShowsEachReadersLag) {
    const ipcbus::Node node = make_node();
    auto pub = ipcbus::RawPublisher::create(node, "cli/lag");
    auto ahead = ipcbus::RawSubscriber::create(node, "cli/lag");
    auto behind = ipcbus::RawSubscriber::create(node, "cli/lag");
    ASSERT_TRUE(pub && ahead && behind);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(pub->send(bytes_of("m")));
    // Readers publish their position in batches and whenever they run dry: drain it.
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(ahead->take());
    auto dry = ahead->take();
    ASSERT_TRUE(dry && !dry->has_value());

    const CliOutcome info = run({"info", "cli/lag", "--json"});
    ASSERT_EQ(info.exit_code, 0) << info.err;
    const json topic = json::parse(info.out);
    EXPECT_EQ(topic.at("published"), 5);
    ASSERT_EQ(topic.at("readers").size(), 2U);
    std::vector<std::uint64_t> lags;
    for (const json& reader : topic.at("readers")) {
        EXPECT_EQ(reader.at("pid"), ::getpid());
        EXPECT_EQ(reader.at("lost"), 0);
        lags.push_back(reader.at("lag").get<std::uint64_t>());
    }
    std::sort(lags.begin(), lags.end());
    EXPECT_EQ(lags, (std::vector<std::uint64_t>{0, 5}));
}

TEST_F(CliTest, hzPrintsOneRateLinePerSecond) {
    auto pub = ipcbus::RawPublisher::create(make_node(), "cli/hz");
    ASSERT_TRUE(pub) << pub.error().message;
    const CliOutcome hz = run({"hz", "cli/hz", "--count", "1"});
    ASSERT_EQ(hz.exit_code, 0) << hz.err;
    const auto lines = lines_of(hz.out);
    ASSERT_EQ(lines.size(), 1U) << hz.out;
    double rate = -1, bandwidth = -1, lost = -1, seconds = -1;
    char unit[16] = {};
    const int fields = std::sscanf(lines[0].c_str(),
                                   "rate %lf msg/s bandwidth %lf %15s lost %lf msg/s (over %lf s)",
                                   &rate, &bandwidth, unit, &lost, &seconds);
    EXPECT_EQ(fields, 5) << lines[0];
    EXPECT_GE(rate, 0.0);
    EXPECT_TRUE(std::string(unit).ends_with("B/s")) << lines[0];
    EXPECT_GT(seconds, 0.0);
}

// --- errors --------------------------------------------------------------------------------

TEST_F(CliTest, infoOfAnUnknownTopicFails) {
    const CliOutcome info = run({"info", "cli/nowhere"});
    EXPECT_EQ(info.exit_code, 1);
    EXPECT_EQ(info.err, "ipcbus: no such topic 'cli/nowhere'\n");
    EXPECT_EQ(info.out, "");
}

TEST_F(CliTest, pubOnATopicOfAnotherTypeReportsTheMismatch) {
    auto typed = ipcbus::Publisher<Pose>::create(make_node(), "cli/pose");
    ASSERT_TRUE(typed) << typed.error().message;
    const CliOutcome pub = run({"pub", "cli/pose", "text"});
    expect_one_error_line(pub, "type mismatch");
    EXPECT_NE(pub.err.find("cli/pose"), std::string::npos) << pub.err;
}

TEST_F(CliTest, commandsSayTheDaemonIsNotReachableWhenNoneServesTheDomain) {
    const std::string empty_domain = ipcbus::test::unique_domain();
    const CliOutcome topics =
        run_cli({"topics", "--domain", empty_domain}, {}, {"IPCBUS_NO_AUTOSTART=1"});
    expect_one_error_line(topics, "daemon not reachable");
}

TEST_F(CliTest, badCommandLineIsOneErrorLine) {
    const CliOutcome pub = run({"pub"});  // no topic
    EXPECT_TRUE(pub.exited);
    EXPECT_NE(pub.exit_code, 0);
    EXPECT_TRUE(pub.err.starts_with("ipcbus: ")) << pub.err;
}

// --- perf and doctor -----------------------------------------------------------------------

TEST_F(CliTest, perfJsonReportsOrderedPositivePercentiles) {
    const CliOutcome perf = run({"perf", "--json", "--count", "20000"});
    ASSERT_EQ(perf.exit_code, 0) << perf.err;
    const json result = json::parse(perf.out);
    EXPECT_EQ(result.at("size"), 64);
    EXPECT_EQ(result.at("count"), 20000);
    EXPECT_EQ(result.at("subscribers"), 1);
    const std::uint64_t p50 = result.at("p50_ns"), p90 = result.at("p90_ns"),
                        p99 = result.at("p99_ns"), p999 = result.at("p999_ns"),
                        max = result.at("max_ns");
    EXPECT_GT(p50, 0U);
    EXPECT_LE(p50, p90);
    EXPECT_LE(p90, p99);
    EXPECT_LE(p99, p999);
    EXPECT_LE(p999, max);
    EXPECT_GT(result.at("msgs_per_s").get<double>(), 0.0);
    const std::uint64_t received = result.at("received"), lost = result.at("lost");
    EXPECT_GT(received, 0U);
    EXPECT_LE(received + lost, 20000U + 1000U) << "measured plus warm-up messages";
}

TEST_F(CliTest, doctorPassesWhenTheDaemonAnswers) {
    const CliOutcome doctor = run({"doctor"});
    EXPECT_EQ(doctor.exit_code, 0) << doctor.out << doctor.err;
    const auto lines = lines_of(doctor.out);
    ASSERT_FALSE(lines.empty());
    for (const auto& line : lines) {
        EXPECT_TRUE(line.starts_with("ok ") || line.starts_with("warn ")) << line;
    }
    EXPECT_NE(doctor.out.find("daemon of domain '" + domain_ + "' answers"), std::string::npos)
        << doctor.out;
}

TEST_F(CliTest, doctorFailsWhenNoDaemonAnswers) {
    const std::string empty_domain = ipcbus::test::unique_domain();
    const CliOutcome doctor =
        run_cli({"doctor", "--domain", empty_domain}, {}, {"IPCBUS_NO_AUTOSTART=1"});
    EXPECT_EQ(doctor.exit_code, 1);
    const auto lines = lines_of(doctor.out);
    EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& line) {
        return line.starts_with("fail ") && line.find("daemon not reachable") != std::string::npos;
    })) << doctor.out;
    EXPECT_EQ(doctor.err, "ipcbus: 1 check(s) failed\n");
}

}  // namespace
