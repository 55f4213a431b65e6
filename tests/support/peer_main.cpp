// SPDX-License-Identifier: Apache-2.0
// ipcbus_test_peer: the other process in multi-process tests.
//
//   ipcbus_test_peer publish DOMAIN TOPIC COUNT SIZE CAPACITY PUBLISHER_NO
//       publishes COUNT checksummed messages, prints "done <count>"
//   ipcbus_test_peer subscribe DOMAIN TOPIC COUNT SIZE CAPACITY [wait]
//       attaches, prints "ready"; with "wait" it then waits for a line on stdin; reads
//       until it has accounted for COUNT messages and prints
//       "result delivered=D lost=L torn=T bad=B first=F last=X"
//       (delivered+lost+torn must equal COUNT; bad counts checksum or order failures)
//   ipcbus_test_peer hold-loan DOMAIN TOPIC COUNT SIZE CAPACITY
//       publishes COUNT messages, then takes one more loan, half-fills it, prints
//       "holding" and waits on stdin (the test kills it there)
//   ipcbus_test_peer watch DOMAIN PATTERN COUNT SIZE CAPACITY
//       watches PATTERN, prints "ready", subscribes to every matching topic as it appears
//       (printing "subscribed <topic>"), and prints "got <topic> <counter>" for each
//       message, until it has seen COUNT topics and one message on each
//   ipcbus_test_peer scribble DOMAIN TOPIC COUNT SIZE CAPACITY
//       subscribes, prints "ready", waits for a message, prints "writing", then tries to
//       write into the message in place (the kernel must stop it: SIGSEGV)
//   ipcbus_test_peer open-many DOMAIN PREFIX COUNT SIZE CAPACITY
//       opens COUNT publishers on PREFIX/0 .. PREFIX/<COUNT-1>, prints "ready", and
//       holds them until end of input
//   ipcbus_test_peer list DOMAIN - 0 0 0
//       prints "topic <name> pubs <publishers>" for each topic of the domain, then "end"
//   ipcbus_test_peer report-problems DOMAIN TOPIC 0 SIZE CAPACITY
//       opens a publisher on TOPIC, prints "ready"; for each line "problem" on stdin waits
//       (10 s at most) until the node reports one, and prints "problem <code>: <message>"
//       (or "problem none")
//   ipcbus_test_peer dirty-start DOMAIN - 0 0 0
//       first makes itself a bad parent: a listening TCP port without FD_CLOEXEC, SIGTERM
//       blocked, SIGHUP ignored, RLIMIT_NOFILE at 64; then connects (starting the daemon
//       if none runs), prints "port <N>" and waits for end of input
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "ipcbus/ipcbus.hpp"
#include "test_payload.hpp"

namespace {

using ipcbus::test::PayloadHeader;

int fail(const std::string& what) {
    std::cout << "error " << what << std::endl;
    return 2;
}

ipcbus::TopicOptions options_for(unsigned long size, unsigned long capacity) {
    ipcbus::TopicOptions o;
    o.capacity = static_cast<std::uint32_t>(capacity);
    o.slot_size = size;
    return o;
}

int publish(const ipcbus::Node& node, const std::string& topic, std::uint64_t count,
            unsigned long size, unsigned long capacity, std::uint32_t publisher_no) {
    auto pub = ipcbus::RawPublisher::create(node, topic, options_for(size, capacity));
    if (!pub) return fail(pub.error().message);
    for (std::uint64_t i = 0; i < count; ++i) {
        auto loan = pub->loan(size);
        if (!loan) return fail(std::string(ipcbus::to_string(loan.error())));
        ipcbus::test::write_payload(loan->data(), publisher_no, i);
        if (auto published = pub->publish(std::move(*loan)); !published) {
            return fail(std::string(ipcbus::to_string(published.error())));
        }
    }
    std::cout << "done " << count << std::endl;
    return 0;
}

int subscribe(const ipcbus::Node& node, const std::string& topic, std::uint64_t count,
              unsigned long size, unsigned long capacity, bool wait_for_go) {
    auto sub = ipcbus::RawSubscriber::create(node, topic, options_for(size, capacity));
    if (!sub) return fail(sub.error().message);
    std::cout << "ready" << std::endl;
    if (wait_for_go) {
        std::string line;
        std::getline(std::cin, line);
    }
    std::uint64_t delivered = 0, torn = 0, bad = 0, first = UINT64_MAX, last = 0;
    std::uint64_t expected_min = 0;  // sequences must strictly increase
    while (sub->next_sequence() < count) {
        auto taken = sub->take();
        if (!taken) {
            ++bad;
            continue;
        }
        if (!taken->has_value()) continue;  // busy-poll: the test is about throughput
        const ipcbus::RawSample& s = **taken;
        PayloadHeader h{};
        const bool intact = ipcbus::test::check_payload(s.data(), h);
        if (s.overwritten()) {  // the publisher lapped us while we read: not data
            ++torn;
            continue;
        }
        if (!intact || h.counter != s.sequence() || s.sequence() < expected_min) ++bad;
        expected_min = s.sequence() + 1;
        first = std::min(first, s.sequence());
        last = s.sequence();
        ++delivered;
    }
    std::cout << "result delivered=" << delivered << " lost=" << sub->lost() << " torn=" << torn
              << " bad=" << bad << " first=" << first << " last=" << last << std::endl;
    return 0;
}

int hold_loan(const ipcbus::Node& node, const std::string& topic, std::uint64_t count,
              unsigned long size, unsigned long capacity) {
    auto pub = ipcbus::RawPublisher::create(node, topic, options_for(size, capacity));
    if (!pub) return fail(pub.error().message);
    for (std::uint64_t i = 0; i < count; ++i) {
        auto loan = pub->loan(size);
        if (!loan) return fail(std::string(ipcbus::to_string(loan.error())));
        ipcbus::test::write_payload(loan->data(), 1, i);
        if (auto published = pub->publish(std::move(*loan)); !published) {
            return fail(std::string(ipcbus::to_string(published.error())));
        }
    }
    auto loan = pub->loan(size);
    if (!loan) return fail(std::string(ipcbus::to_string(loan.error())));
    std::memset(loan->data().data(), 0xee, size / 2);  // half a message, never published
    std::cout << "holding" << std::endl;
    std::string line;
    std::getline(std::cin, line);
    return 0;
}

int open_many(const ipcbus::Node& node, const std::string& prefix, std::uint64_t count,
              unsigned long size, unsigned long capacity) {
    std::vector<ipcbus::RawPublisher> pubs;
    for (std::uint64_t i = 0; i < count; ++i) {
        auto pub = ipcbus::RawPublisher::create(node, prefix + "/" + std::to_string(i),
                                                options_for(size, capacity));
        if (!pub) return fail(pub.error().message);
        pubs.push_back(std::move(pub).value());
    }
    std::cout << "ready" << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    return 0;
}

int watch(const ipcbus::Node& node, const std::string& pattern, std::uint64_t count) {
    auto watcher = ipcbus::TopicWatcher::create(node, pattern);
    if (!watcher) return fail(watcher.error().message);
    std::cout << "ready" << std::endl;
    std::vector<std::pair<std::string, ipcbus::RawSubscriber>> subs;
    std::uint64_t messages = 0;
    while (subs.size() < count || messages < count) {
        auto names = watcher->wait(std::chrono::milliseconds(subs.size() < count ? 1000 : 0));
        if (!names) return fail(names.error().message);
        for (const auto& name : *names) {
            auto sub = ipcbus::RawSubscriber::create(node, name);
            if (!sub) return fail(sub.error().message);
            std::cout << "subscribed " << name << std::endl;
            subs.emplace_back(name, std::move(sub).value());
        }
        for (auto& [name, sub] : subs) {
            auto taken = sub.take();
            if (!taken || !taken->has_value()) continue;
            ipcbus::test::PayloadHeader h{};
            if (!ipcbus::test::check_payload((*taken)->data(), h)) return fail("bad payload");
            std::cout << "got " << name << " " << h.counter << std::endl;
            ++messages;
        }
    }
    return 0;
}

extern "C" void on_fault(int) {
    const char line[] = "faulted\n";
    [[maybe_unused]] auto n = ::write(STDOUT_FILENO, line, sizeof line - 1);
    ::_exit(3);
}

int scribble(const ipcbus::Node& node, const std::string& topic) {
    // Report the fault ourselves (a sanitizer may take it first and abort instead).
    struct sigaction sa {};
    sa.sa_handler = on_fault;
    ::sigaction(SIGSEGV, &sa, nullptr);
    auto sub = ipcbus::RawSubscriber::create(node, topic);
    if (!sub) return fail(sub.error().message);
    std::cout << "ready" << std::endl;
    for (;;) {
        auto taken = sub->take();
        if (!taken) return fail("take failed");
        if (!taken->has_value()) continue;
        std::cout << "writing" << std::endl;
        auto* bytes = const_cast<std::byte*>((*taken)->data().data());
        bytes[0] = std::byte{0xff};  // must fault: subscribers map messages read-only
        std::cout << "wrote" << std::endl;
        return 1;
    }
}

// Everything a careless parent can pass to a daemon it starts; returns the bound port.
int make_bad_parent() {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);  // no SOCK_CLOEXEC, on purpose
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        return -1;
    }
    sigset_t blocked;
    ::sigemptyset(&blocked);
    ::sigaddset(&blocked, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &blocked, nullptr);
    ::signal(SIGHUP, SIG_IGN);
    const rlimit few{64, 64 * 1024};
    ::setrlimit(RLIMIT_NOFILE, &few);
    return ntohs(address.sin_port);
}

int list(const ipcbus::Node& node) {
    auto topics = node.list_topics();
    if (!topics) return fail(topics.error().message);
    for (const auto& t : *topics)
        std::cout << "topic " << t.name << " pubs " << t.publishers << "\n";
    std::cout << "end" << std::endl;
    return 0;
}

// The node's problems arrive from its own thread, when it meets them: this waits for the
// state the test asks about, as ipcbus::test::eventually does.
int report_problems(const ipcbus::Node& node, const std::string& topic, unsigned long size,
                    unsigned long capacity) {
    auto pub = ipcbus::RawPublisher::create(node, topic, options_for(size, capacity));
    if (!pub) return fail(pub.error().message);
    std::cout << "ready" << std::endl;
    for (std::string line; std::getline(std::cin, line);) {
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        std::vector<ipcbus::Error> problems;
        while ((problems = node.take_problems()).empty() &&
               std::chrono::steady_clock::now() < give_up) {
            ::sched_yield();
        }
        if (problems.empty()) std::cout << "problem none" << std::endl;
        for (const auto& p : problems) {
            std::cout << "problem " << ipcbus::to_string(p.code) << ": " << p.message << std::endl;
        }
    }
    return 0;
}

int dirty_start(const std::string& domain) {
    const int port = make_bad_parent();
    if (port < 0) return fail(std::string("listening socket: ") + std::strerror(errno));
    auto node = ipcbus::Node::create({domain});
    if (!node) return fail(node.error().message);
    std::cout << "port " << port << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 6) return fail("usage: see peer_main.cpp");
    if (args[0] == "dirty-start") return dirty_start(args[1]);
    auto node = ipcbus::Node::create({args[1]});
    if (!node) return fail(node.error().message);
    const std::uint64_t count = std::stoull(args[3]);
    const unsigned long size = std::stoul(args[4]);
    const unsigned long capacity = std::stoul(args[5]);
    if (args[0] == "publish" && args.size() == 7) {
        return publish(*node, args[2], count, size, capacity,
                       static_cast<std::uint32_t>(std::stoul(args[6])));
    }
    if (args[0] == "hold-loan") return hold_loan(*node, args[2], count, size, capacity);
    if (args[0] == "watch") return watch(*node, args[2], count);
    if (args[0] == "scribble") return scribble(*node, args[2]);
    if (args[0] == "list") return list(*node);
    if (args[0] == "report-problems") return report_problems(*node, args[2], size, capacity);
    if (args[0] == "open-many") return open_many(*node, args[2], count, size, capacity);
    if (args[0] == "subscribe") {
        return subscribe(*node, args[2], count, size, capacity,
                         args.size() == 7 && args[6] == "wait");
    }
    return fail("unknown command " + args[0]);
}
