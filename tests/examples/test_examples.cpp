// SPDX-License-Identifier: Apache-2.0
// The examples (examples/trading, robotics, order_events), each process a real child
// process in a domain of the test's own. The tests read what the processes print and check
// that what the examples promise holds: every service got every signal, the viewer got a
// frame at once, every order was fulfilled exactly once, and a signal stops everything
// cleanly. They synchronise only on the processes' output, never on sleeps, and assert no
// timings.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "test_domain.hpp"

namespace {

using ipcbus::test::ChildProcess;

// Every process gets this run limit: a broken example fails the test instead of hanging it.
const std::string kSeconds = "120";

/// What a finished process printed, and how it ended.
struct Finished {
    std::vector<std::string> lines;
    int exit_code = -1;

    /// The key=value fields of its "summary:" line (the one with `stream=STREAM` if given).
    [[nodiscard]] std::map<std::string, std::string> summary(const std::string& stream = "") const {
        for (const auto& line : lines) {
            const auto at = line.find("] summary: ");
            if (at == std::string::npos) continue;
            std::map<std::string, std::string> fields;
            std::istringstream words(line.substr(at + 11));
            for (std::string word; words >> word;) {
                if (const auto eq = word.find('='); eq != std::string::npos) {
                    fields[word.substr(0, eq)] = word.substr(eq + 1);
                }
            }
            if (stream.empty() || fields["stream"] == stream) return fields;
        }
        ADD_FAILURE() << "no summary line" << (stream.empty() ? "" : " for " + stream);
        return {};
    }

    /// A counter of the summary line.
    [[nodiscard]] std::uint64_t count(const std::string& key,
                                      const std::string& stream = "") const {
        const auto fields = summary(stream);
        const auto it = fields.find(key);
        if (it == fields.end()) {
            ADD_FAILURE() << "summary has no " << key;
            return 0;
        }
        return std::stoull(it->second);
    }

    /// The first line containing `text`, or "" if none.
    [[nodiscard]] std::string line_with(const std::string& text) const {
        for (const auto& line : lines) {
            if (line.find(text) != std::string::npos) return line;
        }
        return {};
    }
};

std::set<std::string> shm_entries() {
    std::set<std::string> names;
    if (DIR* dir = ::opendir("/dev/shm")) {
        while (const dirent* entry = ::readdir(dir)) names.insert(entry->d_name);
        ::closedir(dir);
    }
    return names;
}

class ExamplesTest : public ipcbus::test::DomainTest {
  protected:
    // The examples connect to the domain named by $IPCBUS_DOMAIN: ours, served by our daemon.
    ExamplesTest() { ::setenv("IPCBUS_DOMAIN", domain_.c_str(), 1); }

    void TearDown() override {
        DomainTest::TearDown();
        EXPECT_EQ(shm_entries(), shm_before_) << "an example left something in /dev/shm";
    }

    /// Starts the example program PROGRAM with ARGS (and a run limit).
    static ChildProcess start(const std::string& program, std::vector<std::string> args = {}) {
        args.insert(args.begin(), std::string(IPCBUS_EXAMPLES_DIR) + "/" + program);
        args.insert(args.end(), {"--seconds", kSeconds});
        return ChildProcess(args);
    }

    /// Reads the rest of what `process` prints and waits for it to exit.
    static Finished finish(ChildProcess& process) {
        Finished finished;
        while (auto line = process.read_line()) finished.lines.push_back(*line);
        finished.exit_code = process.wait();
        return finished;
    }

    std::set<std::string> shm_before_ = shm_entries();
};

// --- quickstart -----------------------------------------------------------------------------

// The quickstart subscriber hears of its publisher through matched events: when the
// publisher is killed before its last tick, the subscriber finishes with its summary at
// once instead of waiting out its run limit (which would fail the test's own timeout).
TEST_F(ExamplesTest, quickstartSubscriberFinishesWhenItsPublisherIsKilled) {
    ChildProcess subscriber = start("quickstart_subscriber", {"--name", "sub"});
    ASSERT_TRUE(subscriber.wait_for_line("[sub] attached to"));
    ChildProcess publisher =
        start("quickstart_publisher", {"--subscribers", "1", "--count", "100000000"});
    ASSERT_TRUE(subscriber.wait_for_line("[sub] publisher arrived: 1 publisher(s) now"));
    ASSERT_TRUE(subscriber.wait_for_line("[sub] seq="));  // ticks are flowing
    publisher.kill_hard();
    const Finished done = finish(subscriber);
    EXPECT_EQ(done.exit_code, 0);
    EXPECT_NE(done.line_with("[sub] publisher left: 0 publisher(s) now"), "");
    EXPECT_GT(done.count("received"), 0U);
}

// --- trading --------------------------------------------------------------------------------

TEST_F(ExamplesTest, tradingEveryServiceGetsEverySignalAndTheRiskGroupSharesTheOrders) {
    constexpr std::uint64_t kTicks = 5000;
    std::vector<ChildProcess> risk;
    risk.push_back(start("trading_risk_check", {"--name", "risk-1"}));
    risk.push_back(start("trading_risk_check", {"--name", "risk-2"}));
    ChildProcess execution = start("trading_execution");
    ChildProcess notification = start("trading_signal_service", {"--service", "notification"});
    ChildProcess logging = start("trading_signal_service", {"--service", "logging"});
    ChildProcess strategy = start("trading_strategy");
    ChildProcess feed = start("trading_feed_handler", {"--count", std::to_string(kTicks)});

    const Finished fed = finish(feed);
    EXPECT_EQ(fed.exit_code, 0);
    EXPECT_EQ(fed.count("published"), kTicks);

    const Finished strategized = finish(strategy);
    EXPECT_EQ(strategized.exit_code, 0);
    // Overwrite mode: a strategy descheduled for long may lose ticks, but it accounts for
    // every one of them.
    EXPECT_EQ(strategized.count("received") + strategized.count("lost") + strategized.count("torn"),
              kTicks);
    const std::uint64_t signals = strategized.count("signals");
    EXPECT_GT(signals, 0U);

    for (ChildProcess* listener : {&notification, &logging, &execution}) {
        const Finished done = finish(*listener);
        EXPECT_EQ(done.exit_code, 0);
        EXPECT_EQ(done.count("received"), signals) << "a service missed a trade_signal";
        EXPECT_EQ(done.count("lost"), 0U);
    }
    std::uint64_t checked = 0;
    for (auto& worker : risk) {
        const Finished done = finish(worker);
        EXPECT_EQ(done.exit_code, 0);
        EXPECT_EQ(done.count("lost"), 0U);
        checked += done.count("received");
    }
    EXPECT_EQ(checked, signals) << "the risk group checked an order twice, or missed one";
}

TEST_F(ExamplesTest, tradingStopsCleanlyOnCtrlC) {
    std::vector<ChildProcess> processes;
    processes.push_back(start("trading_risk_check", {"--name", "risk-1"}));
    processes.push_back(start("trading_risk_check", {"--name", "risk-2"}));
    processes.push_back(start("trading_execution"));
    processes.push_back(start("trading_signal_service", {"--service", "notification"}));
    processes.push_back(start("trading_signal_service", {"--service", "logging"}));
    processes.push_back(start("trading_strategy"));
    processes.push_back(start("trading_feed_handler", {"--count", "100000000"}));
    // Once the strategy has signalled, every process is attached and busy.
    ASSERT_TRUE(processes[5].wait_for_line("[strategy] signal #1:"));
    for (auto& process : processes) ::kill(process.pid(), SIGINT);  // as Ctrl-C does
    for (auto& process : processes) {
        const Finished done = finish(process);
        EXPECT_EQ(done.exit_code, 0) << (done.lines.empty() ? "" : done.lines.back());
        EXPECT_NE(done.line_with("] summary: "), "") << "no summary after Ctrl-C";
    }
}

// --- robotics -------------------------------------------------------------------------------

TEST_F(ExamplesTest, roboticsViewerJoiningLateGetsTheLatestFrameAtOnce) {
    ChildProcess fusion = start("robotics_fusion");
    ChildProcess imu = start("robotics_imu", {"--count", "100000000"});
    ChildProcess camera = start("robotics_camera", {"--count", "100000000"});
    // The camera has published a frame: a viewer starting now joins late.
    ASSERT_TRUE(camera.wait_for_line("[camera] frame seq=0 published"));
    ChildProcess viewer = start("robotics_viewer", {"--frames", "3"});
    const Finished viewed = finish(viewer);
    EXPECT_EQ(viewed.exit_code, 0);
    ASSERT_FALSE(viewed.lines.empty());
    EXPECT_EQ(viewed.lines[0].rfind("[viewer] joined late: frame seq=", 0), 0U)
        << "no frame at once: " << viewed.lines[0];
    EXPECT_NE(viewed.lines[0].find(" at once, captured "), std::string::npos) << viewed.lines[0];
    EXPECT_EQ(viewed.count("received"), 3U);

    // SIGTERM, as a service manager stops them: each publishes its end of stream, so the
    // fusion node finishes by itself.
    ::kill(camera.pid(), SIGTERM);
    ::kill(imu.pid(), SIGTERM);
    const Finished filmed = finish(camera);
    const Finished measured = finish(imu);
    const Finished fused = finish(fusion);
    EXPECT_EQ(filmed.exit_code, 0);
    EXPECT_EQ(measured.exit_code, 0);
    EXPECT_EQ(fused.exit_code, 0);
    const std::uint64_t frames = filmed.count("published");
    EXPECT_GE(frames, 4U) << "the viewer saw 4 frames";
    EXPECT_EQ(fused.count("received", "camera") + fused.count("lost", "camera") +
                  fused.count("torn", "camera"),
              frames);
    EXPECT_EQ(fused.count("received", "imu") + fused.count("lost", "imu"),
              measured.count("published"));
    EXPECT_NE(fused.line_with("[fusion] cpu "), "") << "no CPU time reported";
}

// --- order events ---------------------------------------------------------------------------

std::vector<std::uint64_t> tasks_of(const Finished& worker) {
    std::vector<std::uint64_t> ids;
    const std::string line = worker.line_with("task(s): orders ");
    const auto at = line.find("orders ");
    if (at == std::string::npos) return ids;
    std::istringstream words(line.substr(at + 7));
    for (std::uint64_t id; words >> id;) ids.push_back(id);
    return ids;
}

TEST_F(ExamplesTest, orderEventsReachEveryServiceAndEachTaskIsDoneExactlyOnce) {
    constexpr std::uint64_t kOrders = 60;
    std::vector<ChildProcess> services;
    for (const char* name : {"email", "inventory", "billing", "analytics"}) {
        services.push_back(start("order_events_subscriber", {"--service", name}));
    }
    std::vector<ChildProcess> workers;
    for (const char* id : {"1", "2", "3"}) {
        workers.push_back(start("order_events_worker", {"--id", id, "--work-us", "500"}));
    }
    ChildProcess order_service =
        start("order_events_service", {"--count", std::to_string(kOrders), "--rate", "2000"});

    const Finished ordered = finish(order_service);
    EXPECT_EQ(ordered.exit_code, 0);
    EXPECT_EQ(ordered.count("published"), kOrders);
    EXPECT_EQ(ordered.count("fulfilled"), kOrders);
    const std::string check = ordered.line_with("check: ");
    EXPECT_NE(check.find("60 done exactly once, 0 missing, 0 done twice or more"),
              std::string::npos)
        << check;
    EXPECT_TRUE(check.ends_with("-> OK")) << check;

    for (auto& service : services) {
        const Finished done = finish(service);
        EXPECT_EQ(done.exit_code, 0);
        EXPECT_EQ(done.count("received"), kOrders) << "a service missed an order";
        EXPECT_EQ(done.count("lost"), 0U);
    }
    std::vector<std::uint64_t> all_tasks;
    for (auto& worker : workers) {
        const Finished done = finish(worker);
        EXPECT_EQ(done.exit_code, 0);
        const auto tasks = tasks_of(done);
        EXPECT_EQ(tasks.size(), done.count("received"));
        all_tasks.insert(all_tasks.end(), tasks.begin(), tasks.end());
    }
    std::sort(all_tasks.begin(), all_tasks.end());
    std::vector<std::uint64_t> every_order(kOrders);
    for (std::uint64_t i = 0; i < kOrders; ++i) every_order[i] = i + 1;
    EXPECT_EQ(all_tasks, every_order) << "a task was done twice or not at all";
}

}  // namespace
