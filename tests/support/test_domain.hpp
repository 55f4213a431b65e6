// Every test runs in a bus domain of its own, so tests run in parallel without seeing
// each other, and each checks that it left nothing behind in /dev/shm.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "ipcbus/node.hpp"

namespace ipcbus::test {

/// A domain name no other test (in this or another process) uses.
inline std::string unique_domain() {
    static std::atomic<unsigned> counter{0};
    return "t" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1));
}

/// Fixture base: a fresh domain and Node; fails the test if segments are left over.
class DomainTest : public ::testing::Test {
  protected:
    void TearDown() override {
        EXPECT_TRUE(ipcbus::list_segments(domain_).empty())
            << "test left shared-memory segments behind in domain " << domain_;
        (void)ipcbus::remove_segments(domain_);  // keep /dev/shm clean even after a failure
    }

    ipcbus::Node make_node() { return std::move(ipcbus::Node::create({domain_})).value(); }

    std::string domain_ = unique_domain();
};

}  // namespace ipcbus::test
