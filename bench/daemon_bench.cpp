// SPDX-License-Identifier: Apache-2.0
// ipcbus_bench_daemon: the discovery daemon's costs (issue 3 targets).
//
//   1. topic open round trip: open + close of a subscriber on an existing topic, and the
//      first open of a new topic (creates the segment), as percentiles;
//   2. cleanup after a death: a child process with a subscriber is SIGKILLed; the time
//      from its death (waitpid returns) until its reader row is free, seen by a publisher
//      spinning on subscriber_count();
//   3. daemon memory (VmRSS) with 1,000 topics held by 100 client processes.
//
//   ipcbus_bench_daemon [--quick]
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "ipcbus/ipcbus.hpp"

namespace {

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

void print_percentiles(const char* what, std::vector<std::uint64_t> ns) {
    std::sort(ns.begin(), ns.end());
    auto at = [&](double p) {
        return ns[static_cast<std::size_t>(p * static_cast<double>(ns.size() - 1))];
    };
    std::printf("%-44s p50 %8.1f us  p90 %8.1f us  p99 %8.1f us  max %8.1f us  (n=%zu)\n", what,
                static_cast<double>(at(0.5)) / 1e3, static_cast<double>(at(0.9)) / 1e3,
                static_cast<double>(at(0.99)) / 1e3, static_cast<double>(ns.back()) / 1e3,
                ns.size());
}

template <class T>
T must(ipcbus::Result<T> r, const char* what) {
    if (!r) {
        std::fprintf(stderr, "ipcbus_bench_daemon: %s: %s\n", what, r.error().message.c_str());
        std::exit(1);
    }
    return std::move(r).value();
}

void bench_open_round_trip(const ipcbus::Node& node, int rounds) {
    auto keep = must(ipcbus::RawPublisher::create(node, "bench/open", {64, 64, 0}), "publisher");
    std::vector<std::uint64_t> opens;
    std::vector<std::uint64_t> closes;
    std::vector<std::uint64_t> created;
    for (int i = 0; i < rounds; ++i) {
        const std::uint64_t t0 = now_ns();
        std::optional<ipcbus::RawSubscriber> sub(
            must(ipcbus::RawSubscriber::create(node, "bench/open"), "subscriber"));
        const std::uint64_t t1 = now_ns();
        sub.reset();
        closes.push_back(now_ns() - t1);
        opens.push_back(t1 - t0);
        const std::string fresh = "bench/new/" + std::to_string(i);
        const std::uint64_t t2 = now_ns();
        { auto pub = must(ipcbus::RawPublisher::create(node, fresh, {64, 64, 0}), "create"); }
        created.push_back(now_ns() - t2);
    }
    print_percentiles("open subscriber, existing topic", opens);
    print_percentiles("close subscriber", closes);
    print_percentiles("create+drop topic (64 x 64 B segment)", created);
}

void bench_cleanup(const ipcbus::Node& node, int rounds) {
    auto pub = must(ipcbus::RawPublisher::create(node, "bench/cleanup", {64, 64, 0}), "publisher");
    std::vector<std::uint64_t> latency;
    for (int i = 0; i < rounds; ++i) {
        int ready[2];
        if (::pipe(ready) != 0) std::exit(1);
        const pid_t child = ::fork();
        if (child == 0) {
            auto child_node = must(ipcbus::Node::create({node.domain()}), "child node");
            auto sub =
                must(ipcbus::RawSubscriber::create(child_node, "bench/cleanup"), "child sub");
            const char byte = 1;
            [[maybe_unused]] auto n = ::write(ready[1], &byte, 1);
            ::pause();
            ::_exit(0);
        }
        char byte = 0;
        [[maybe_unused]] auto n = ::read(ready[0], &byte, 1);
        ::close(ready[0]);
        ::close(ready[1]);
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        const std::uint64_t dead = now_ns();
        while (pub.subscriber_count() != 0) {
        }
        latency.push_back(now_ns() - dead);
    }
    print_percentiles("death (waitpid) -> reader row freed", latency);
}

long rss_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

pid_t daemon_pid(const ipcbus::Node& node) {
    auto topics = must(node.list_topics(), "list");  // ensures the daemon is up
    (void)topics;
    // The daemon's pid: the autostarted process serving our (unique) domain.
    FILE* ps = ::popen(("pgrep -f -- '--domain " + node.domain() + "'").c_str(), "r");
    long pid = -1;
    if (ps != nullptr) {
        if (std::fscanf(ps, "%ld", &pid) != 1) pid = -1;
        ::pclose(ps);
    }
    return static_cast<pid_t>(pid);
}

void bench_memory(const ipcbus::Node& node, int clients, int topics_each) {
    const pid_t daemon = daemon_pid(node);
    const long before = rss_kib(daemon);
    std::vector<pid_t> children;
    int ready[2];
    int release[2];
    if (::pipe(ready) != 0 || ::pipe(release) != 0) std::exit(1);
    for (int c = 0; c < clients; ++c) {
        const pid_t child = ::fork();
        if (child == 0) {
            ::close(release[1]);
            auto child_node = must(ipcbus::Node::create({node.domain()}), "child node");
            std::vector<ipcbus::RawPublisher> pubs;
            for (int t = 0; t < topics_each; ++t) {
                const std::string name = "bench/mem/" + std::to_string(c) + "/" + std::to_string(t);
                pubs.push_back(
                    must(ipcbus::RawPublisher::create(child_node, name, {64, 64, 0}), "pub"));
            }
            const char byte = 1;
            [[maybe_unused]] auto n = ::write(ready[1], &byte, 1);
            char wait = 0;
            [[maybe_unused]] auto m = ::read(release[0], &wait, 1);  // until the parent closes it
            ::_exit(0);
        }
        children.push_back(child);
    }
    ::close(release[0]);
    for (int c = 0; c < clients; ++c) {
        char byte = 0;
        [[maybe_unused]] auto n = ::read(ready[0], &byte, 1);
    }
    const auto topics = must(node.list_topics(), "list");
    const long during = rss_kib(daemon);
    std::printf(
        "daemon VmRSS: %ld KiB idle, %ld KiB with %zu topics and %d clients "
        "(segments 64 x 64 B; their pages are counted where touched)\n",
        before, during, topics.size(), clients + 1);
    ::close(release[1]);
    for (pid_t child : children) ::waitpid(child, nullptr, 0);
}

}  // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const std::string domain = "benchd" + std::to_string(::getpid());
    auto node = must(ipcbus::Node::create({domain}), "node");  // starts the daemon
    std::printf("ipcbus daemon benchmark (domain %s)\n", domain.c_str());
    bench_open_round_trip(node, quick ? 50 : 2000);
    bench_cleanup(node, quick ? 5 : 200);
    bench_memory(node, quick ? 10 : 100, 10);
    return 0;
}
