// SPDX-License-Identifier: Apache-2.0
// ipcbus_test_wait_peer: the waiting side of the tests of blocking receive, WaitSet and
// the notification fd. Messages are 8-byte counters; every line is flushed at once.
//
//   ipcbus_test_wait_peer receive DOMAIN TOPIC COUNT STRATEGY
//       STRATEGY: block (spin budget 0: always sleeps), spin, yield. Prints "ready", then
//       receive()s COUNT messages with a 10 s timeout each, printing "got <value>" (or
//       "timeout"), and finally "cpu <microseconds of CPU used while receiving>".
//   ipcbus_test_wait_peer waitset DOMAIN PREFIX COUNT
//       subscribes to PREFIX/0 .. PREFIX/<COUNT-1> in one WaitSet, prints "ready", then for
//       each line on stdin: "wait" waits up to 10 s, "poll" does not wait; it prints
//       "ready i j ..." (the indices reported, sorted) and drains those subscribers.
//   ipcbus_test_wait_peer epoll DOMAIN TOPIC COUNT
//       puts the subscriber's notification fd into an epoll set, prints "ready", and
//       until COUNT messages came: epoll_wait, read the fd, drain with take(), printing
//       "got <value>" for each.
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "ipcbus/ipcbus.hpp"

namespace {

using namespace std::chrono_literals;

int fail(const std::string& what) {
    std::cout << "error " << what << std::endl;
    return 2;
}

std::uint64_t value_of(const ipcbus::RawSample& sample) {
    std::uint64_t value = 0;
    std::memcpy(&value, sample.data().data(), std::min<std::size_t>(sample.data().size(), 8));
    return value;
}

std::uint64_t cpu_us() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<std::uint64_t>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1'000'000 +
           static_cast<std::uint64_t>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

int receive(const ipcbus::Node& node, const std::string& topic, int count,
            const std::string& strategy) {
    auto sub = ipcbus::RawSubscriber::create(node, topic);
    if (!sub) return fail(sub.error().message);
    if (strategy == "block") sub->set_wait_strategy(ipcbus::WaitStrategy::spin_then_block, 0ns);
    if (strategy == "spin") sub->set_wait_strategy(ipcbus::WaitStrategy::busy_spin);
    if (strategy == "yield") sub->set_wait_strategy(ipcbus::WaitStrategy::spin_yield);
    std::cout << "ready" << std::endl;
    const std::uint64_t cpu_before = cpu_us();
    for (int i = 0; i < count; ++i) {
        auto got = sub->receive(10s);
        if (!got) {
            std::cout << ipcbus::to_string(got.error()) << std::endl;
            continue;
        }
        std::cout << "got " << value_of(*got) << std::endl;
    }
    std::cout << "cpu " << cpu_us() - cpu_before << std::endl;
    return 0;
}

int waitset(const ipcbus::Node& node, const std::string& prefix, int count) {
    std::vector<ipcbus::RawSubscriber> subs;
    ipcbus::WaitSet set;
    for (int i = 0; i < count; ++i) {
        auto sub = ipcbus::RawSubscriber::create(node, prefix + "/" + std::to_string(i));
        if (!sub) return fail(sub.error().message);
        subs.push_back(std::move(sub).value());
    }
    for (auto& sub : subs) {  // after the vector stopped moving them
        if (auto index = set.attach(sub); !index) return fail(index.error().message);
    }
    std::cout << "ready" << std::endl;
    std::string command;
    while (std::getline(std::cin, command)) {
        auto ready = set.wait(command == "wait" ? std::chrono::nanoseconds(10s) : 0ns);
        if (!ready) return fail(std::string(ipcbus::to_string(ready.error())));
        std::vector<std::size_t> indices(ready->begin(), ready->end());
        std::sort(indices.begin(), indices.end());
        std::string line = "ready";
        for (std::size_t i : indices) {
            line += " " + std::to_string(i);
            for (;;) {  // drain (an error consumed a message too: go on)
                auto taken = subs[i].take();
                if (taken && !taken->has_value()) break;
            }
        }
        std::cout << line << std::endl;
    }
    return 0;
}

int epoll_loop(const ipcbus::Node& node, const std::string& topic, int count) {
    auto sub = ipcbus::RawSubscriber::create(node, topic);
    if (!sub) return fail(sub.error().message);
    auto fd = sub->notification_fd();
    if (!fd) return fail(fd.error().message);
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event event{};
    event.events = EPOLLIN;
    if (::epoll_ctl(epoll, EPOLL_CTL_ADD, *fd, &event) != 0) return fail("epoll_ctl");
    std::cout << "ready" << std::endl;
    for (int received = 0; received < count;) {
        epoll_event out{};
        if (::epoll_wait(epoll, &out, 1, 10'000) != 1) return fail("epoll_wait timed out");
        std::uint64_t signals = 0;
        if (::read(*fd, &signals, sizeof signals) != sizeof signals) return fail("read");
        // Read the fd first, then drain: a message arriving meanwhile signals again.
        while (auto taken = sub->take()) {
            if (!taken->has_value()) break;
            std::cout << "got " << value_of(**taken) << std::endl;
            ++received;
        }
    }
    ::close(epoll);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 4) return fail("usage: see wait_peer.cpp");
    auto node = ipcbus::Node::create({args[1]});
    if (!node) return fail(node.error().message);
    const int count = std::stoi(args[3]);
    if (args[0] == "receive" && args.size() == 5) return receive(*node, args[2], count, args[4]);
    if (args[0] == "waitset") return waitset(*node, args[2], count);
    if (args[0] == "epoll") return epoll_loop(*node, args[2], count);
    return fail("unknown role " + args[0]);
}
