// SPDX-License-Identifier: Apache-2.0
// ipcbus in an event loop: one epoll set waits on a topic's notification fd, a timer and
// standard input together; the process uses no CPU while nothing happens.
//
//   epoll_subscriber [--topic NAME] [--count N] [--seconds S]
//
// Run a publisher next to it, e.g. `ipcbus pub events/loop hello --count 10 --rate 2`.
// It prints every message, a heartbeat each second, and stops after N messages, at end
// of input, after S seconds (heartbeats counted), or on Ctrl-C.
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "ipcbus/ipcbus.hpp"

namespace {

struct Options {
    std::string topic = "events/loop";
    long count = 0;      // 0: until end of input or Ctrl-C
    long seconds = 600;  // heartbeats (one a second) before it stops by itself
};

// Registers `fd` with the epoll set; `tag` comes back in the event.
bool watch(int epoll, int fd, std::uint64_t tag) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = tag;
    return ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0;
}

int one_second_timer() {
    const int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    const itimerspec every_second{{1, 0}, {1, 0}};
    ::timerfd_settime(fd, 0, &every_second, nullptr);
    return fd;
}

// SIGINT and SIGTERM as a readable fd, so the loop stops cleanly.
int stop_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &signals, nullptr);
    return ::signalfd(-1, &signals, SFD_CLOEXEC);
}

// Reads the notification fd first, then drains: a message arriving meanwhile makes the
// fd readable again, so none is left waiting.
long drain(ipcbus::RawSubscriber& sub, int fd) {
    std::uint64_t signals = 0;
    [[maybe_unused]] const auto n = ::read(fd, &signals, sizeof signals);
    long received = 0;
    for (;;) {
        auto taken = sub.take();
        if (!taken) continue;  // a damaged message was consumed; go on
        if (!taken->has_value()) return received;
        const auto bytes = (*taken)->data();
        std::printf("[epoll-subscriber] #%llu: %.*s\n",
                    static_cast<unsigned long long>((*taken)->sequence()),
                    static_cast<int>(bytes.size()), reinterpret_cast<const char*>(bytes.data()));
        ++received;
    }
}

enum Tag : std::uint64_t { kMessages, kTimer, kInput, kSignal };

}  // namespace

int main(int argc, char** argv) {
    Options options;
    CLI::App app{"A subscriber in a plain epoll loop, with a timer, stdin and signals."};
    app.add_option("--topic", options.topic, "Topic name");
    app.add_option("--count", options.count, "Stop after N messages (0: no limit)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--seconds", options.seconds, "Stop after S seconds at most")
        ->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);  // an unknown flag is an error, not ignored
    auto node = ipcbus::Node::create();
    if (!node) return std::fprintf(stderr, "error: %s\n", node.error().message.c_str()), 1;
    auto sub = ipcbus::RawSubscriber::create(*node, options.topic);
    if (!sub) return std::fprintf(stderr, "error: %s\n", sub.error().message.c_str()), 1;
    auto messages = sub->notification_fd();
    if (!messages) return std::fprintf(stderr, "error: %s\n", messages.error().message.c_str()), 1;
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    const int timer = one_second_timer();
    const int stop = stop_signals();
    if (!watch(epoll, *messages, kMessages) || !watch(epoll, timer, kTimer) ||
        !watch(epoll, stop, kSignal)) {
        std::perror("epoll_ctl");
        return 1;
    }
    // Standard input too, when it is something epoll can watch (not a file or /dev/null).
    (void)watch(epoll, STDIN_FILENO, kInput);
    std::printf("[epoll-subscriber] waiting on '%s', a timer, stdin and signals\n",
                options.topic.c_str());
    long received = 0;
    long heartbeats = 0;
    for (bool running = true; running;) {
        epoll_event event{};
        if (::epoll_wait(epoll, &event, 1, -1) != 1) continue;
        switch (event.data.u64) {
            case kMessages:
                received += drain(*sub, *messages);
                running = options.count == 0 || received < options.count;
                break;
            case kTimer: {
                std::uint64_t ticks = 0;
                [[maybe_unused]] const auto n = ::read(timer, &ticks, sizeof ticks);
                std::printf("[epoll-subscriber] heartbeat: %ld messages so far\n", received);
                heartbeats += static_cast<long>(ticks);
                running = heartbeats < options.seconds;
                break;
            }
            case kInput: {
                char line[256];
                running = ::read(STDIN_FILENO, line, sizeof line) > 0;  // end of input: stop
                break;
            }
            default:
                running = false;  // SIGINT or SIGTERM
        }
        std::fflush(stdout);
    }
    std::printf("[epoll-subscriber] done: %ld messages, %llu lost\n", received,
                static_cast<unsigned long long>(sub->lost()));
    ::close(stop);
    ::close(timer);
    ::close(epoll);
    return 0;
}
