// SPDX-License-Identifier: Apache-2.0
// What ipcbus-bridge costs over NATS itself: the same messages from a publisher process to
// a subscriber process, once straight through NATS (a plain libnats program on both
// ends), once ipcbus -> bridge -> NATS -> bridge -> ipcbus between two bus domains. Both
// over one nats-server on loopback, which this program starts and stops.
//
//   ipcbus_bench_bridge [--quick] [--json]
//
// Rows per size (64 B, 4 KiB): throughput (the publisher sends N back to back; the rate
// is what the subscriber received over the time from the first send to the last receipt)
// and one-way latency at a fixed 5 kHz (each message carries its CLOCK_MONOTONIC send
// time; p50/p99 of every message). Children are this program re-executed in a role, so
// that no process forks after a library started its threads.
#include <errno.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ipcbus/ipcbus.hpp"

namespace {

std::uint64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

// A child process with its stdout on a pipe.
struct Child {
    pid_t pid = -1;
    FILE* out = nullptr;

    static Child start(const std::vector<std::string>& argv) {
        int fds[2];
        if (::pipe(fds) != 0) std::abort();
        Child c;
        c.pid = ::fork();
        if (c.pid == 0) {
            ::dup2(fds[1], STDOUT_FILENO);
            ::close(fds[0]);
            ::close(fds[1]);
            std::vector<char*> args;
            for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        ::close(fds[1]);
        c.out = ::fdopen(fds[0], "r");
        return c;
    }
    // The next line starting with `prefix` ("" at end of output).
    std::string wait_for(const std::string& prefix) const {
        char line[4096];
        while (std::fgets(line, sizeof line, out) != nullptr) {
            std::string s(line);
            if (!s.empty() && s.back() == '\n') s.pop_back();
            if (s.rfind(prefix, 0) == 0) return s;
        }
        return "";
    }
    int stop(int signal = SIGTERM) {
        if (pid > 0) ::kill(pid, signal);
        return reap();
    }
    int reap() {
        int status = 0;
        if (pid > 0) ::waitpid(pid, &status, 0);
        pid = -1;
        if (out != nullptr) std::fclose(out);
        out = nullptr;
        return status;
    }
};

std::string self_path() {
    char path[4096] = {};
    const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
    return n > 0 ? std::string(path, static_cast<std::size_t>(n)) : std::string();
}

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

struct Result {
    std::uint64_t received = 0;
    double rate = 0;  // msgs/s
    double p50_us = 0, p99_us = 0;
};

// --- the subscriber side (a child role) -------------------------------------------------

// Receives `count` messages (or until 3 s of silence) and prints
// "result RECEIVED FIRST_SEND_NS LAST_RECV_NS P50_NS P99_NS".
struct Receiver {
    std::uint64_t count;
    std::vector<std::uint64_t> latencies;
    std::uint64_t received = 0, first_send = 0, last_recv = 0;

    void on(const std::byte* data, std::size_t size) {
        std::uint64_t sent = 0;
        if (size >= sizeof sent) std::memcpy(&sent, data, sizeof sent);
        const std::uint64_t now = now_ns();
        if (received == 0) first_send = sent;
        last_recv = now;
        latencies.push_back(now - sent);
        ++received;
    }
    void report() {
        std::sort(latencies.begin(), latencies.end());
        auto pct = [&](double p) {
            return latencies.empty() ? 0
                                     : latencies[static_cast<std::size_t>(
                                           p * static_cast<double>(latencies.size() - 1))];
        };
        std::printf("result %llu %llu %llu %llu %llu\n", (unsigned long long)received,
                    (unsigned long long)first_send, (unsigned long long)last_recv,
                    (unsigned long long)pct(0.5), (unsigned long long)pct(0.99));
        std::fflush(stdout);
    }
};

int nats_subscriber(const std::string& url, const std::string& subject, std::uint64_t count) {
    natsConnection* nc = nullptr;
    natsSubscription* sub = nullptr;
    if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) return 1;
    if (natsConnection_SubscribeSync(&sub, nc, subject.c_str()) != NATS_OK) return 1;
    natsSubscription_SetPendingLimits(sub, 10'000'000, 1 << 30);
    natsConnection_Flush(nc);
    std::puts("ready");
    std::fflush(stdout);
    Receiver r{count, {}};
    r.latencies.reserve(count);
    while (r.received < count) {
        natsMsg* msg = nullptr;
        if (natsSubscription_NextMsg(&msg, sub, 3000) != NATS_OK) break;
        r.on(reinterpret_cast<const std::byte*>(natsMsg_GetData(msg)),
             static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
        natsMsg_Destroy(msg);
    }
    r.report();
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return 0;
}

const ipcbus::TopicOptions& topic_options(std::size_t size) {
    static ipcbus::TopicOptions small{1024, 64, 0, ipcbus::DeliveryMode::reliable};
    static ipcbus::TopicOptions large{1024, 4096, 0, ipcbus::DeliveryMode::reliable};
    return size <= 64 ? small : large;
}

int ipcbus_subscriber(const std::string& domain, const std::string& topic, std::size_t size,
                      std::uint64_t count) {
    auto node = ipcbus::Node::create({domain});
    if (!node) return 1;
    auto sub = ipcbus::RawSubscriber::create(*node, topic, topic_options(size));
    if (!sub) return 1;
    std::puts("ready");
    std::fflush(stdout);
    Receiver r{count, {}};
    r.latencies.reserve(count);
    while (r.received < count) {
        auto s = sub->receive(std::chrono::seconds(3));
        if (!s) break;
        r.on(s->data().data(), s->data().size());
    }
    r.report();
    return 0;
}

// --- the publisher side (this process) ---------------------------------------------------

// Paces sends: none (rate 0) or one every 1/rate s. Sleeps rather than spins: on a small
// machine a spinning publisher would take a core from the bridges it measures (latency is
// taken from the actual send time, so a late wake-up costs nothing but rate).
void pace(std::uint64_t i, std::uint64_t start, double rate) {
    if (rate <= 0) return;
    const auto due = start + static_cast<std::uint64_t>(static_cast<double>(i) * 1e9 / rate);
    timespec at{static_cast<time_t>(due / 1'000'000'000ULL),
                static_cast<long>(due % 1'000'000'000ULL)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {
    }
}

Result collect(Child& sub) {
    const std::string line = sub.wait_for("result");
    sub.reap();
    unsigned long long received = 0, first = 0, last = 0, p50 = 0, p99 = 0;
    Result r;
    if (std::sscanf(line.c_str(), "result %llu %llu %llu %llu %llu", &received, &first, &last, &p50,
                    &p99) == 5) {
        r.received = received;
        r.rate = last > first
                     ? static_cast<double>(received) * 1e9 / static_cast<double>(last - first)
                     : 0;
        r.p50_us = static_cast<double>(p50) / 1000;
        r.p99_us = static_cast<double>(p99) / 1000;
    }
    return r;
}

Result run_nats(const std::string& url, std::size_t size, std::uint64_t count, double rate) {
    const std::string subject = "plain.bench";
    Child sub =
        Child::start({self_path(), "--role", "nats-sub", url, subject, std::to_string(count)});
    if (sub.wait_for("ready").empty()) return {};
    natsConnection* nc = nullptr;
    if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) return {};
    std::vector<char> payload(size, 'x');
    const std::uint64_t start = now_ns();
    for (std::uint64_t i = 0; i < count; ++i) {
        pace(i, start, rate);
        const std::uint64_t t = now_ns();
        std::memcpy(payload.data(), &t, sizeof t);
        natsConnection_Publish(nc, subject.c_str(), payload.data(), static_cast<int>(size));
        if (rate > 0) natsConnection_Flush(nc);  // latency: send each at once
    }
    natsConnection_Flush(nc);
    Result r = collect(sub);
    natsConnection_Destroy(nc);
    return r;
}

Result run_bridge(const std::string& a, const std::string& b, Child& bridge_a, std::size_t size,
                  std::uint64_t count, double rate, int round) {
    const std::string topic = "bench/bridge-" + std::to_string(round);
    Child sub = Child::start({self_path(), "--role", "ipcbus-sub", b, topic, std::to_string(size),
                              std::to_string(count)});
    if (sub.wait_for("ready").empty()) return {};
    auto node = ipcbus::Node::create({a});
    if (!node) return {};
    auto pub = ipcbus::RawPublisher::create(*node, topic, topic_options(size));
    if (!pub) return {};
    if (bridge_a.wait_for("export " + topic).empty()) return {};  // exporter attached
    const std::uint64_t start = now_ns();
    for (std::uint64_t i = 0; i < count; ++i) {
        pace(i, start, rate);
        auto loan = pub->loan(size);
        if (!loan) break;
        const std::uint64_t t = now_ns();
        std::memcpy(loan->data().data(), &t, sizeof t);
        std::memset(loan->data().data() + sizeof t, 'x', size - sizeof t);
        if (!pub->publish(std::move(*loan))) break;
    }
    return collect(sub);
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() >= 4 && args[0] == "--role" && args[1] == "nats-sub") {
        return nats_subscriber(args[2], args[3], std::stoull(args[4]));
    }
    if (args.size() >= 6 && args[0] == "--role" && args[1] == "ipcbus-sub") {
        return ipcbus_subscriber(args[2], args[3], std::stoull(args[4]), std::stoull(args[5]));
    }
    const bool quick = std::find(args.begin(), args.end(), "--quick") != args.end();
    const bool json = std::find(args.begin(), args.end(), "--json") != args.end();
    const std::uint64_t tput_count = quick ? 2'000 : 200'000;
    const std::uint64_t lat_count = quick ? 500 : 10'000;
    constexpr double kLatencyRate = 5'000;

    const std::string url = "nats://127.0.0.1:" + std::to_string(free_port());
    Child server = Child::start({IPCBUS_NATS_SERVER_PATH, "-a", "127.0.0.1", "-p",
                                 url.substr(url.rfind(':') + 1), "-l", "/dev/null"});
    for (int i = 0; i < 500; ++i) {  // up once it accepts a client
        natsConnection* nc = nullptr;
        if (natsConnection_ConnectTo(&nc, url.c_str()) == NATS_OK) {
            natsConnection_Destroy(nc);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const std::string a = "bbA" + std::to_string(::getpid());
    const std::string b = "bbB" + std::to_string(::getpid());
    auto bridge = [&](const std::string& domain, const char* direction) {
        Child c =
            Child::start({IPCBUS_BRIDGE_PATH, "--domain", domain, "--nats", url, "--nats-domain",
                          "bench", direction, "bench/**", "--log-level", "warn"});
        c.wait_for("ready");
        return c;
    };
    Child bridge_b = bridge(b, "--import");
    Child bridge_a = bridge(a, "--export");

    struct Row {
        std::size_t size;
        Result nats_tput, bridge_tput, nats_lat, bridge_lat;
    };
    std::vector<Row> rows;
    int round = 0;
    for (std::size_t size : {std::size_t{64}, std::size_t{4096}}) {
        Row row{size, {}, {}, {}, {}};
        row.nats_tput = run_nats(url, size, tput_count, 0);
        row.bridge_tput = run_bridge(a, b, bridge_a, size, tput_count, 0, round++);
        row.nats_lat = run_nats(url, size, lat_count, kLatencyRate);
        row.bridge_lat = run_bridge(a, b, bridge_a, size, lat_count, kLatencyRate, round++);
        rows.push_back(row);
    }
    const bool complete_bridge_a = bridge_a.stop() == 0;
    const bool complete_bridge_b = bridge_b.stop() == 0;
    server.stop();

    bool ok = complete_bridge_a && complete_bridge_b;
    if (json) std::printf("[");
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const Row& r = rows[i];
        ok = ok && r.bridge_tput.received == tput_count && r.bridge_lat.received == lat_count;
        const double tput_ratio = r.nats_tput.rate > 0 ? r.bridge_tput.rate / r.nats_tput.rate : 0;
        if (json) {
            std::printf(
                "%s{\"size\":%zu,\"nats_msgs_per_s\":%.0f,\"bridge_msgs_per_s\":%.0f,"
                "\"nats_received\":%llu,\"bridge_received\":%llu,\"nats_p50_us\":%.1f,"
                "\"nats_p99_us\":%.1f,\"bridge_p50_us\":%.1f,\"bridge_p99_us\":%.1f}",
                i ? "," : "", r.size, r.nats_tput.rate, r.bridge_tput.rate,
                (unsigned long long)r.nats_tput.received,
                (unsigned long long)r.bridge_tput.received, r.nats_lat.p50_us, r.nats_lat.p99_us,
                r.bridge_lat.p50_us, r.bridge_lat.p99_us);
            continue;
        }
        std::printf(
            "%5zu B  throughput: plain NATS %9.0f msg/s (%llu/%llu received), bridge "
            "%9.0f msg/s (%llu/%llu) = %.0f%%\n",
            r.size, r.nats_tput.rate, (unsigned long long)r.nats_tput.received,
            (unsigned long long)tput_count, r.bridge_tput.rate,
            (unsigned long long)r.bridge_tput.received, (unsigned long long)tput_count,
            100 * tput_ratio);
        std::printf(
            "%5zu B  latency at 5 kHz: plain NATS p50 %.1f us p99 %.1f us, bridge p50 "
            "%.1f us (%.2fx) p99 %.1f us (%.2fx)\n",
            r.size, r.nats_lat.p50_us, r.nats_lat.p99_us, r.bridge_lat.p50_us,
            r.nats_lat.p50_us > 0 ? r.bridge_lat.p50_us / r.nats_lat.p50_us : 0,
            r.bridge_lat.p99_us,
            r.nats_lat.p99_us > 0 ? r.bridge_lat.p99_us / r.nats_lat.p99_us : 0);
    }
    if (json) std::printf("]\n");
    if (!ok) std::fprintf(stderr, "bridge bench: messages missing or a bridge failed\n");
    return ok ? 0 : 1;
}
