// SPDX-License-Identifier: Apache-2.0
// ipcbus_bench_delivery: cross-process throughput of the delivery modes, 64 B messages.
//
//   overwrite  1 publisher  -> 1 reader            the publisher never waits
//   reliable   1 publisher  -> 1 reader            the publisher waits for the reader
//   reliable   2, 4 publishers -> 1 reader         claims contend on the write cursor
//   overwrite  2, 4 publishers -> 1 reader
//   group      1 publisher  -> group of 1, 2 members (reliable): the dispatch rate
//
// Every process is forked before it creates its Node (the parent has none), so no
// process forks with threads running. Start-up is synchronised through counters in an
// anonymous MAP_SHARED page; nobody sleeps. Readers busy-poll; a reliable publisher that
// finds the ring full spins, then sleeps on the topic's futex (the library's own path).
// Rate = messages delivered / (last reader done - start signal). Nothing is asserted.
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ipcbus/ipcbus.hpp"

namespace {

struct Shared {
    std::atomic<std::uint32_t> ready;
    std::atomic<std::uint32_t> go;
    std::atomic<std::uint64_t> start_ns;
    std::atomic<std::uint64_t> last_done_ns;  // the last reader done
    std::atomic<std::uint64_t> last_sent_ns;  // the last publisher done
    std::atomic<std::uint64_t> delivered;
    std::atomic<std::uint64_t> lost;
};

std::uint64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

struct Row {
    const char* name;
    ipcbus::DeliveryMode mode;
    int publishers;
    int readers;
    bool group;
};

struct Config {
    std::uint64_t messages = 4'000'000;  // per row, all publishers together
    bool json = false;
    std::string domain = "benchdlv" + std::to_string(::getpid());
};

ipcbus::TopicOptions options_for(const Row& row) {
    ipcbus::TopicOptions o;
    o.capacity = 1024;
    o.slot_size = 64;
    o.mode = row.mode;
    return o;
}

void pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)), &set);
    ::sched_setaffinity(0, sizeof set, &set);
}

bool oversubscribed(const Row& row) {
    return row.publishers + row.readers > ::sysconf(_SC_NPROCESSORS_ONLN);
}

void wait_for_go(Shared& shared) {
    shared.ready.fetch_add(1);
    while (shared.go.load(std::memory_order_acquire) == 0) ::sched_yield();
}

void note_end(std::atomic<std::uint64_t>& latest) {
    const std::uint64_t end = now_ns();
    std::uint64_t seen = latest.load();
    while (end > seen && !latest.compare_exchange_weak(seen, end)) {
    }
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "ipcbus_bench_delivery: %s\n", what.c_str());
    ::_exit(1);
}

[[noreturn]] void run_reader(const Config& config, const Row& row, Shared& shared,
                             const std::string& topic) {
    auto node = ipcbus::Node::create({config.domain});
    if (!node) die(node.error().message);
    ipcbus::ReaderOptions reader;
    if (row.group) reader.group = "workers";
    auto sub =
        ipcbus::RawSubscriber::create(*node, topic, options_for(row), ipcbus::any_type, reader);
    if (!sub) die(sub.error().message);
    wait_for_go(shared);
    std::uint64_t delivered = 0;
    std::byte buffer[64];
    const std::uint64_t total = config.messages;
    // A plain reader accounts for every message; a member stops when the group is done.
    auto done = [&] {
        return row.group ? sub->next_sequence() >= total
                         : delivered + sub->lost() + sub->skipped() >= total;
    };
    // With more processes than CPUs a busy-polling reader would sit on the CPU a publisher
    // needs: such rows let readers sleep when the ring is empty (spin 20 us, then futex).
    const bool block = oversubscribed(row);
    while (!done()) {
        if (block) {
            if (sub->receive_copy(buffer, std::chrono::milliseconds(1))) ++delivered;
        } else if (auto got = sub->take_copy(buffer); got && got->has_value()) {
            ++delivered;
        }
    }
    shared.delivered.fetch_add(delivered);
    shared.lost.fetch_add(sub->lost());
    note_end(shared.last_done_ns);
    ::_exit(0);
}

[[noreturn]] void run_publisher(const Config& config, const Row& row, Shared& shared,
                                const std::string& topic) {
    auto node = ipcbus::Node::create({config.domain});
    if (!node) die(node.error().message);
    auto pub = ipcbus::RawPublisher::create(*node, topic, options_for(row));
    if (!pub) die(pub.error().message);
    // The readers attach before anyone publishes, so they see the whole stream.
    while (pub->subscriber_count() < static_cast<std::size_t>(row.readers)) ::sched_yield();
    wait_for_go(shared);
    const std::uint64_t count = config.messages / static_cast<std::uint64_t>(row.publishers);
    std::byte message[64]{};
    for (std::uint64_t i = 0; i < count; ++i) {
        std::memcpy(message, &i, sizeof i);
        // expired: this publisher stalled a whole lap inside the call (more processes than
        // cores); readers counted the message lost. Anything else is a failure.
        if (auto sent = pub->send(message); !sent && sent.error() != ipcbus::LoanError::expired) {
            die(std::string("send failed: ") + std::string(ipcbus::to_string(sent.error())));
        }
    }
    note_end(shared.last_sent_ns);
    ::_exit(0);
}

struct Measured {
    double sent_per_s;  // all publishers together
    double msgs_per_s;  // delivered to the readers
    std::uint64_t delivered;
    std::uint64_t lost;
};

Measured run_row(const Config& config, const Row& row, int index) {
    auto* shared = static_cast<Shared*>(
        ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    if (shared == MAP_FAILED) die("mmap failed");
    new (shared) Shared{};
    const std::string topic = "bench/delivery-" + std::to_string(index);
    std::vector<pid_t> children;
    int cpu = 0;
    for (int r = 0; r < row.readers; ++r) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            pin_to(cpu);
            run_reader(config, row, *shared, topic);
        }
        children.push_back(pid);
        ++cpu;
    }
    for (int p = 0; p < row.publishers; ++p) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            pin_to(cpu);
            run_publisher(config, row, *shared, topic);
        }
        children.push_back(pid);
        ++cpu;
    }
    const auto everyone = static_cast<std::uint32_t>(children.size());
    while (shared->ready.load() < everyone) ::sched_yield();
    shared->start_ns.store(now_ns());
    shared->go.store(1, std::memory_order_release);
    bool failed = false;
    for (pid_t pid : children) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    if (failed) die(std::string("a process of row '") + row.name + "' failed");
    const double seconds = static_cast<double>(shared->last_done_ns - shared->start_ns) / 1e9;
    const double sending = static_cast<double>(shared->last_sent_ns - shared->start_ns) / 1e9;
    const std::uint64_t delivered = shared->delivered;
    const auto publishers = static_cast<std::uint64_t>(row.publishers);
    const std::uint64_t sent = config.messages / publishers * publishers;
    const Measured m{static_cast<double>(sent) / sending, static_cast<double>(delivered) / seconds,
                     delivered, shared->lost.load()};
    ::munmap(shared, sizeof(Shared));
    return m;
}

}  // namespace

int main(int argc, char** argv) {
    Config config;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--json") {
            config.json = true;
        } else if (arg == "--quick") {
            config.messages = 200'000;
        } else if (arg == "--messages" && i + 1 < argc) {
            config.messages = std::strtoull(argv[++i], nullptr, 10);
        } else {
            std::fprintf(stderr,
                         "usage: ipcbus_bench_delivery [--json] [--quick] [--messages N]\n");
            return 2;
        }
    }
    using ipcbus::DeliveryMode;
    const std::vector<Row> rows{
        {"overwrite 1 pub -> 1 reader", DeliveryMode::overwrite, 1, 1, false},
        {"reliable  1 pub -> 1 reader", DeliveryMode::reliable, 1, 1, false},
        {"overwrite 2 pub -> 1 reader", DeliveryMode::overwrite, 2, 1, false},
        {"reliable  2 pub -> 1 reader", DeliveryMode::reliable, 2, 1, false},
        {"overwrite 4 pub -> 1 reader", DeliveryMode::overwrite, 4, 1, false},
        {"reliable  4 pub -> 1 reader", DeliveryMode::reliable, 4, 1, false},
        {"group     1 pub -> 1 member", DeliveryMode::reliable, 1, 1, true},
        {"group     1 pub -> 2 members", DeliveryMode::reliable, 1, 2, true},
    };
    if (!config.json) {
        std::printf("64 B messages, %llu per row, capacity 1024, %ld CPUs\n",
                    static_cast<unsigned long long>(config.messages),
                    ::sysconf(_SC_NPROCESSORS_ONLN));
        std::printf("%-30s %14s %14s %12s %10s  %s\n", "row", "sent/s", "delivered/s", "delivered",
                    "lost", "reader");
    } else {
        std::printf("{\"messages\":%llu,\"rows\":[",
                    static_cast<unsigned long long>(config.messages));
    }
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const Measured m = run_row(config, rows[i], static_cast<int>(i));
        if (config.json) {
            std::printf(
                "%s{\"row\":\"%s\",\"sent_per_s\":%.0f,\"delivered_per_s\":%.0f,"
                "\"delivered\":%llu,\"lost\":%llu}",
                i == 0 ? "" : ",", rows[i].name, m.sent_per_s, m.msgs_per_s,
                static_cast<unsigned long long>(m.delivered),
                static_cast<unsigned long long>(m.lost));
        } else {
            std::printf("%-30s %14.0f %14.0f %12llu %10llu  %s\n", rows[i].name, m.sent_per_s,
                        m.msgs_per_s, static_cast<unsigned long long>(m.delivered),
                        static_cast<unsigned long long>(m.lost),
                        oversubscribed(rows[i]) ? "sleeps when idle" : "busy-polls");
        }
        std::fflush(stdout);
    }
    if (config.json) std::printf("]}\n");
    return 0;
}
