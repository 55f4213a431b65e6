// SPDX-License-Identifier: Apache-2.0
// Topic <-> NATS subject mapping of ipcbus-bridge: reversible, and strict with subjects
// that did not come from a bridge.
#include <gtest/gtest.h>

#include "subject.hpp"

namespace {

using ipcbus::bridge::covers;
using ipcbus::bridge::subject_for;
using ipcbus::bridge::subscriptions_for;
using ipcbus::bridge::topic_for;

TEST(BridgeSubject, topicsMapToSubjectsAndBackUnchanged) {
    for (const char* topic : {"robot/telemetry", "a", "cam.front/v1.2/frames", "x-y_z/..a"}) {
        const std::string subject = subject_for("bus", topic);
        EXPECT_EQ(subject.find_first_of(" *>"), std::string::npos) << subject;
        auto back = topic_for("bus", subject);
        ASSERT_TRUE(back) << back.error().message;
        EXPECT_EQ(*back, topic);
    }
    EXPECT_EQ(subject_for("bus", "cam.front/frames"), "ipcbus.bus.cam%2Efront.frames");
}

TEST(BridgeSubject, foreignOrMalformedSubjectsAreRefused) {
    for (const char* subject :
         {"ipcbus.other.robot", "ipcbus.bus.robot%2", "ipcbus.bus.a%zz", "ipcbus.bus.a%2F..",
          "ipcbus.bus.", "ipcbus.bus.a..b", "ipcbus.bus.a%00b", "nats.bus.a", "ipcbus.bus.a%2Fb",
          "ipcbus.bus.a%41"}) {
        EXPECT_FALSE(topic_for("bus", subject)) << subject;
    }
}

TEST(BridgeSubject, patternsBecomeSubscriptionsWithoutOverlaps) {
    EXPECT_EQ(subscriptions_for("d", "robot/*/imu"),
              std::vector<std::string>{"ipcbus.d.robot.*.imu"});
    EXPECT_EQ(subscriptions_for("d", "robot/**"),
              (std::vector<std::string>{"ipcbus.d.robot", "ipcbus.d.robot.>"}));
    EXPECT_EQ(subscriptions_for("d", "**"), std::vector<std::string>{"ipcbus.d.>"});
    EXPECT_EQ(subscriptions_for("d", std::vector<std::string>{"robot/*", "robot/**", "robot/*"}),
              (std::vector<std::string>{"ipcbus.d.robot", "ipcbus.d.robot.>"}));
    EXPECT_TRUE(covers("a.>", "a.b.*"));
    EXPECT_TRUE(covers("a.*.c", "a.b.c"));
    EXPECT_FALSE(covers("a.b.*", "a.*.c"));  // a partial overlap is not cover
    EXPECT_FALSE(covers("a.>", "a"));        // '>' needs at least one more token
    EXPECT_FALSE(covers("a.*", "a.>"));
}

}  // namespace
