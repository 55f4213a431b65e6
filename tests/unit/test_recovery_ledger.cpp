// SPDX-License-Identifier: Apache-2.0
// The daemon's topic ledger (daemon/src/recovery.cpp): what a restarted daemon reads back
// to decide which topics' holders to wait for, including a damaged file.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "recovery.hpp"

namespace {

using namespace std::chrono_literals;
using ipcbusd::TopicLedger;

struct LedgerDir {
    std::string path;
    LedgerDir() {
        char name[] = "/tmp/ipcbus-ledger-XXXXXX";
        if (::mkdtemp(name) != nullptr) path = name;
    }
    ~LedgerDir() { std::filesystem::remove_all(path); }
    std::string file() const { return path + "/d.topics"; }
    void write(const std::string& text) const { std::ofstream(file()) << text; }
    std::string read() const {
        std::ostringstream all;
        all << std::ifstream(file()).rdbuf();
        return all.str();
    }
};

TEST(TopicLedger, restartAwaitsOnlyValidNamesFromADamagedFileUntilAdoptedOrTheWindowEnds) {
    LedgerDir dir;
    dir.write("robot/pose\n../escape\n\x01\x02garbage\nrobot/scan\nrobot/pa");  // cut short
    TopicLedger ledger;
    ledger.open(dir.path, "d", 10s);
    const auto now = TopicLedger::Clock::now();
    EXPECT_TRUE(ledger.awaiting("robot/pose", now));
    EXPECT_TRUE(ledger.awaiting("robot/scan", now));
    EXPECT_TRUE(ledger.awaiting("robot/pa", now)) << "a valid name, if perhaps cut short";
    EXPECT_FALSE(ledger.awaiting("../escape", now));
    EXPECT_FALSE(ledger.awaiting("robot/new", now));
    ledger.adopted("robot/pose");
    EXPECT_FALSE(ledger.awaiting("robot/pose", now));
    ASSERT_EQ(ledger.awaited(now).size(), 2u);
    EXPECT_EQ(ledger.awaited(now)[1].topic, "robot/scan");
    EXPECT_EQ(ledger.awaited(now)[1].deferred_opens, 1u);
    EXPECT_FALSE(ledger.awaiting("robot/scan", now + 11s)) << "the window is over";
    EXPECT_TRUE(ledger.awaited(now + 11s).empty());
}

TEST(TopicLedger, recordKeepsAwaitedNamesSoThatACrashDuringRecoveryForgetsNone) {
    LedgerDir dir;
    dir.write("a/old\n");
    TopicLedger ledger;
    ledger.open(dir.path, "d", 10s);
    ledger.record({"b/new"});
    EXPECT_EQ(dir.read(), "a/old\nb/new\n");
    ledger.adopted("a/old");
    ledger.record({"b/new"});
    EXPECT_EQ(dir.read(), "b/new\n");
    EXPECT_FALSE(std::filesystem::exists(dir.file() + ".new"));
}

TEST(TopicLedger, withoutASocketDirectoryThereIsNoLedgerAndNoWindow) {
    TopicLedger ledger;
    ledger.open("", "d", 10s);
    EXPECT_FALSE(ledger.awaiting("a/b", TopicLedger::Clock::now()));
    EXPECT_EQ(ledger.ms_left(TopicLedger::Clock::now()), -1);
    ledger.record({"a/b"});  // nowhere to write: nothing happens
}

}  // namespace
