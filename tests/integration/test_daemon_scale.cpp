// SPDX-License-Identifier: Apache-2.0
// The daemon under load: 1,000 topics held by 100 concurrent client processes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "child_process.hpp"
#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"

namespace {

using ipcbus::test::ChildProcess;

class DaemonScaleTest : public ipcbus::test::DomainTest {};

TEST_F(DaemonScaleTest, thousandTopicsFromHundredConcurrentClients) {
    constexpr int kClients = 100;
    constexpr int kTopicsEach = 10;
    std::vector<ChildProcess> clients;
    clients.reserve(kClients);
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back(std::vector<std::string>{ipcbus::test::peer_path(), "open-many",
                                                      domain_, "scale/c" + std::to_string(i),
                                                      std::to_string(kTopicsEach), "64", "16"});
    }
    for (auto& c : clients) ASSERT_EQ(c.wait_for_line("ready"), "ready");
    ipcbus::Node node = make_node();
    const auto topics = ipcbus::test::settled_topics(node);
    EXPECT_EQ(topics.size(), static_cast<std::size_t>(kClients * kTopicsEach));
    for (const auto& t : topics) EXPECT_EQ(t.publishers, 1U) << t.name;
    for (auto& c : clients) c.close_stdin();
    for (auto& c : clients) EXPECT_EQ(c.wait(), 0);
    EXPECT_TRUE(ipcbus::test::settled_topics(node).empty());
}

}  // namespace
