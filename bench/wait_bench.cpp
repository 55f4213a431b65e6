// SPDX-License-Identifier: Apache-2.0
// ipcbus_bench_wait: the cost of waiting without burning a CPU.
//
//   floor        two processes wake each other through a bare futex on one shared word
//                (each waits in FUTEX_WAIT, the other stores and FUTEX_WAKEs): the best
//                a sleeping wake-up can do. One-way = round trip / 2.
//   ipcbus       the same ping-pong over two topics, both sides receive() with
//                spin_then_block and a spin budget of 0, so every wait sleeps.
//   notify cost  one publisher, K = 1, 4, 16 subscriber processes asleep in receive():
//                the CPU time send() takes (commit + the one futex_wake; the woken reader
//                wakes the next), measured with CLOCK_THREAD_CPUTIME_ID (includes the
//                clock's own system call, the same in every row). Before each message every
//                subscriber acknowledged the last one and the publisher sleeps 300 us so they are
//                asleep again.
//   idle CPU     a subscriber blocked for 1 s in receive() with nothing published: CPU
//                time it used (getrusage).
//
// Processes are forked before any of them creates a Node; they meet through counters in
// an anonymous MAP_SHARED page. Percentiles from every sample; nothing is asserted.
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ipcbus/ipcbus.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int kMaxSamples = 200'000;

struct Shared {
    std::atomic<std::uint32_t> word;  // the floor's futex word
    std::atomic<std::uint32_t> ready;
    std::atomic<std::uint64_t> acks;
    std::atomic<std::uint64_t> idle_cpu_us;
    std::uint64_t samples[kMaxSamples];
};

std::uint64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t thread_cpu_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t cpu_us() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<std::uint64_t>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1'000'000 +
           static_cast<std::uint64_t>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

void pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)), &set);
    ::sched_setaffinity(0, sizeof set, &set);
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "ipcbus_bench_wait: %s\n", what.c_str());
    ::_exit(1);
}

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) {
    ::syscall(SYS_futex, &word, FUTEX_WAIT, expected, nullptr, nullptr, 0);
}
void futex_wake(std::atomic<std::uint32_t>& word) {
    ::syscall(SYS_futex, &word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

struct Percentiles {
    std::uint64_t p50, p90, p99, max;
};

Percentiles percentiles(std::uint64_t* samples, int n) {
    std::sort(samples, samples + n);
    auto at = [&](double q) { return samples[std::min(n - 1, static_cast<int>(q * n))]; };
    return {at(0.50), at(0.90), at(0.99), samples[n - 1]};
}

Shared* shared_page() {
    void* page =
        ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) die("mmap failed");
    return new (page) Shared{};
}

void reap(const std::vector<pid_t>& children) {
    for (pid_t pid : children) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("a child process failed");
    }
}

// The floor: A stores 2k+1 and wakes B; B stores 2k+2 and wakes A; each sleeps between.
Percentiles measure_floor(int rounds) {
    Shared* s = shared_page();
    const pid_t child = ::fork();
    if (child == 0) {
        pin_to(1);
        for (std::uint32_t k = 0; k < static_cast<std::uint32_t>(rounds); ++k) {
            std::uint32_t v;
            while ((v = s->word.load()) != 2 * k + 1) futex_wait(s->word, v);
            s->word.store(2 * k + 2);
            futex_wake(s->word);
        }
        ::_exit(0);
    }
    pin_to(0);
    for (std::uint32_t k = 0; k < static_cast<std::uint32_t>(rounds); ++k) {
        const std::uint64_t t0 = now_ns();
        s->word.store(2 * k + 1);
        futex_wake(s->word);
        std::uint32_t v;
        while ((v = s->word.load()) != 2 * k + 2) futex_wait(s->word, v);
        s->samples[k] = (now_ns() - t0) / 2;
    }
    reap({child});
    const Percentiles p = percentiles(s->samples, rounds);
    ::munmap(s, sizeof(Shared));
    return p;
}

ipcbus::RawSubscriber sleeping_subscriber(const ipcbus::Node& node, const std::string& topic) {
    auto sub = ipcbus::RawSubscriber::create(node, topic, {64, 8, 0});
    if (!sub) die(sub.error().message);
    sub->set_wait_strategy(ipcbus::WaitStrategy::spin_then_block, 0ns);
    return std::move(sub).value();
}

ipcbus::RawPublisher publisher(const ipcbus::Node& node, const std::string& topic,
                               std::size_t readers) {
    auto pub = ipcbus::RawPublisher::create(node, topic, {64, 8, 0});
    if (!pub) die(pub.error().message);
    while (pub->subscriber_count() < readers) ::sched_yield();
    return std::move(pub).value();
}

// ipcbus ping-pong, both sides always sleeping in receive().
Percentiles measure_ipcbus(const std::string& domain, int rounds) {
    Shared* s = shared_page();
    const pid_t child = ::fork();
    if (child == 0) {
        pin_to(1);
        auto node = ipcbus::Node::create({domain});
        if (!node) die(node.error().message);
        auto ping = sleeping_subscriber(*node, "wait/ping");
        auto pong = publisher(*node, "wait/pong", 1);
        std::byte buffer[8];
        for (int k = 0; k < rounds; ++k) {
            if (!ping.receive_copy(buffer, 10s)) die("ping lost");
            if (!pong.send(buffer)) die("pong failed");
        }
        ::_exit(0);
    }
    pin_to(0);
    auto node = ipcbus::Node::create({domain});
    if (!node) die(node.error().message);
    auto pong = sleeping_subscriber(*node, "wait/pong");
    auto ping = publisher(*node, "wait/ping", 1);
    std::byte buffer[8]{};
    for (int k = 0; k < rounds; ++k) {
        const std::uint64_t t0 = now_ns();
        if (!ping.send(buffer)) die("ping failed");
        if (!pong.receive_copy(buffer, 10s)) die("pong lost");
        s->samples[k] = (now_ns() - t0) / 2;
    }
    reap({child});
    const Percentiles p = percentiles(s->samples, rounds);
    ::munmap(s, sizeof(Shared));
    return p;
}

// The publisher's cost of send() with `readers` subscriber processes asleep.
Percentiles measure_notify_cost(const std::string& domain, int readers, int messages) {
    Shared* s = shared_page();
    const std::string topic = "wait/fanout-" + std::to_string(readers);
    std::vector<pid_t> children;
    for (int r = 0; r < readers; ++r) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            auto node = ipcbus::Node::create({domain});
            if (!node) die(node.error().message);
            auto sub = sleeping_subscriber(*node, topic);
            std::byte buffer[8];
            for (int m = 0; m < messages; ++m) {
                if (!sub.receive_copy(buffer, 10s)) die("fan-out message lost");
                s->acks.fetch_add(1);
            }
            ::_exit(0);
        }
        children.push_back(pid);
    }
    {
        auto node = ipcbus::Node::create({domain});
        if (!node) die(node.error().message);
        auto pub = publisher(*node, topic, static_cast<std::size_t>(readers));
        std::byte buffer[8]{};
        for (int m = 0; m < messages; ++m) {
            // Everyone has the previous message and has had time to fall asleep again.
            while (s->acks.load() < static_cast<std::uint64_t>(m) * readers) ::sched_yield();
            ::usleep(300);
            // CPU time, not wall time: on a small machine the woken readers preempt the
            // publisher, and wall time would measure the scheduler, not the notify.
            const std::uint64_t t0 = thread_cpu_ns();
            if (!pub.send(buffer)) die("send failed");
            s->samples[m] = thread_cpu_ns() - t0;
        }
        reap(children);
    }
    const Percentiles p = percentiles(s->samples, messages);
    ::munmap(s, sizeof(Shared));
    return p;
}

std::uint64_t measure_idle_cpu(const std::string& domain) {
    Shared* s = shared_page();
    const pid_t child = ::fork();
    if (child == 0) {
        auto node = ipcbus::Node::create({domain});
        if (!node) die(node.error().message);
        auto sub = ipcbus::RawSubscriber::create(*node, "wait/idle", {64, 8, 0});
        if (!sub) die(sub.error().message);  // default strategy: spin 20 us, then sleep
        const std::uint64_t before = cpu_us();
        std::byte buffer[8];
        if (sub->receive_copy(buffer, 1s)) die("nothing was published");
        s->idle_cpu_us = cpu_us() - before;
        ::_exit(0);
    }
    reap({child});
    const std::uint64_t us = s->idle_cpu_us;
    ::munmap(s, sizeof(Shared));
    return us;
}

void print_row(const char* name, const Percentiles& p, const Percentiles* floor) {
    std::printf("%-34s %9llu %9llu %9llu %10llu", name, static_cast<unsigned long long>(p.p50),
                static_cast<unsigned long long>(p.p90), static_cast<unsigned long long>(p.p99),
                static_cast<unsigned long long>(p.max));
    if (floor != nullptr) {
        std::printf("   p50 %.2fx  p99 %.2fx",
                    static_cast<double>(p.p50) / static_cast<double>(floor->p50),
                    static_cast<double>(p.p99) / static_cast<double>(floor->p99));
    }
    std::printf("\n");
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = 50'000;
    int fanout_messages = 2'000;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--quick") {
            rounds = 2'000;
            fanout_messages = 100;
        } else if (arg == "--rounds" && i + 1 < argc) {
            rounds = std::clamp(std::atoi(argv[++i]), 10, kMaxSamples);
        } else {
            std::fprintf(stderr, "usage: ipcbus_bench_wait [--quick] [--rounds N]\n");
            return 2;
        }
    }
    const std::string domain = "benchwait" + std::to_string(::getpid());
    std::printf("one-way wake-up latency, ns (%d round trips, both sides always asleep)\n", rounds);
    std::printf("%-34s %9s %9s %9s %10s\n", "row", "p50", "p90", "p99", "max");
    const Percentiles floor = measure_floor(rounds);
    print_row("floor: bare futex, one word", floor, nullptr);
    print_row("ipcbus receive(), spin budget 0", measure_ipcbus(domain, rounds), &floor);
    std::printf("\npublisher's send() CPU time with K subscribers asleep, ns (%d messages)\n",
                fanout_messages);
    Percentiles one{};
    for (int readers : {1, 4, 16}) {
        const Percentiles p = measure_notify_cost(domain, readers, fanout_messages);
        if (readers == 1) one = p;
        const std::string name = "K = " + std::to_string(readers);
        print_row(name.c_str(), p, readers == 1 ? nullptr : &one);
    }
    std::printf("\nCPU used by a subscriber blocked 1 s in receive(): %llu us\n",
                static_cast<unsigned long long>(measure_idle_cpu(domain)));
    return 0;
}
