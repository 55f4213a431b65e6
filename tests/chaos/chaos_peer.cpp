// SPDX-License-Identifier: Apache-2.0
// ipcbus_test_chaos_peer: a publisher or reader process that the chaos test
// (tests/chaos/test_chaos.cpp) drives line by line on stdin and kills with SIGKILL at
// moments its seeded random generator chooses. Everything it prints is a reply to a
// command, so the test synchronises on output, never on time.
//
//   ipcbus_test_chaos_peer publish DOMAIN TOPIC mode=M capacity=N size=N pub=ID timeout_ms=T
//       prints "ready". Commands:
//         "publish N"  publishes N checksummed messages (publisher ID, counters going on
//                      from the last), prints "published <total> blocked=<B>" (B: loans
//                      that failed with would_block after T ms; the first ends the batch)
//         "hold"       loans a slot for message <total>, writes half of it, prints
//                      "holding <total>" and waits: the test kills it mid-write
//         "die_at P K" kills itself (SIGKILL) the K-th time from now it reaches hook
//                      point P inside a publish (test_hooks.hpp: after_ticket,
//                      after_mark, before_commit); prints nothing
//       at end of input prints "exit <total> blocked=<B>" and exits 0.
//   ipcbus_test_chaos_peer read DOMAIN TOPIC mode=M capacity=N size=N [group=NAME] [log=PATH]
//       attaches, prints "ready start=<next sequence>", then reads whatever comes (sleeping
//       in poll() on the subscriber's notification fd and stdin, so a dozen idle readers
//       do not eat the test machine's two cores). On "die_after K" it kills itself
//       (SIGKILL) right after taking its K-th message from then on; on "die_at P K" the
//       K-th time it reaches hook point P inside a take (group_after_mark,
//       group_after_cas, orphan_after_mark, orphan_after_take). On "finish" it takes
//       what is left and
//       prints one line "pub <id> first <c> last <c> count <n>" per publisher seen, then
//       "result delivered=D lost=L skipped=S torn=T bad=B start=S0 end=E".
//       Overwrite topics are read with take_copy (only consistent copies come back; a copy
//       torn by the publisher lapping us counts as lost), reliable ones in place with
//       take(), the sample re-checked before release. `bad` counts payloads that fail
//       their checksum and, for a plain reader of a reliable topic, a publisher's counter
//       that is not the previous one + 1 (overwrite: not greater). A group member does no
//       order check (redelivered messages come out of order); it holds up to 4 samples
//       at a time and, when done with one, writes "<pub> <counter>" to the log (one
//       write(2) each, so what a killed member finished survives it), then releases it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <deque>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "ipcbus/ipcbus.hpp"
#include "peer_args.hpp"
#include "test_hooks.hpp"
#include "test_payload.hpp"

namespace {

// "die_at P K": SIGKILL at the K-th arrival at hook point P from now (0: none armed).
int g_die_point = -1;
std::uint64_t g_die_at = 0;

extern "C" void on_hook(int point) {
    if (point == g_die_point && ipcbus_test_hook_count(point) == g_die_at) ::raise(SIGKILL);
}

// Arms "die_at POINT K"; false if the point is unknown.
bool arm_death(const std::string& command) {
    const char* names[] = {"after_ticket",     "after_mark",      "before_commit",
                           "group_after_mark", "group_after_cas", "orphan_after_mark",
                           "orphan_after_take"};
    const auto space = command.find(' ', 7);
    if (space == std::string::npos) return false;
    const std::string name = command.substr(7, space - 7);
    for (int i = 0; i < static_cast<int>(ipcbus::detail::HookPoint::count); ++i) {
        if (name != names[i]) continue;
        g_die_point = i;
        g_die_at = ipcbus_test_hook_count(i) + std::stoull(command.substr(space + 1));
        ipcbus_test_set_hook(&on_hook);
        return true;
    }
    return false;
}

using ipcbus::test::PayloadHeader;

using Args = ipcbus::test::PeerArgs;

int fail(const std::string& what) {
    return ipcbus::test::peer_fail(what);
}

ipcbus::TopicOptions topic_options(const Args& args) {
    ipcbus::TopicOptions o;
    o.capacity = static_cast<std::uint32_t>(args.number("capacity", 64));
    o.slot_size = static_cast<std::uint64_t>(args.number("size", 128));
    o.mode = args.text("mode", "overwrite") == "reliable" ? ipcbus::DeliveryMode::reliable
                                                          : ipcbus::DeliveryMode::overwrite;
    return o;
}

// Message sizes vary (from a bare header to the whole slot) so that a wrong size field
// is caught by the checksum as surely as a wrong byte.
std::size_t size_of_message(std::uint64_t counter, std::size_t slot_size) {
    const std::size_t span = slot_size - sizeof(PayloadHeader) + 1;
    return sizeof(PayloadHeader) + static_cast<std::size_t>(counter * 7919 % span);
}

// A publisher that waited out its block timeout says who held it back (to stderr, which
// the test's log keeps): the readers as the daemon sees them.
void report_blocked(const ipcbus::Node& node, const std::string& topic, std::uint32_t id) {
    auto topics = node.list_topics();
    if (!topics) {
        std::cerr << "[chaos] publisher " << id << " blocked on " << topic
                  << "; the daemon cannot say by whom: " << topics.error().message << std::endl;
        return;
    }
    for (const auto& t : *topics) {
        if (t.name != topic) continue;
        std::cerr << "[chaos] publisher " << id << " blocked on " << topic << " at " << t.published
                  << ":";
        for (const auto& r : t.readers) {
            std::cerr << " {entry " << r.roster_entry << " pid " << r.pid << " next "
                      << r.next_sequence << " released " << r.released << " held " << r.held
                      << (r.asleep ? " asleep" : "") << (r.group.empty() ? "" : " " + r.group)
                      << "}";
        }
        for (const auto& g : t.groups) {
            std::cerr << " {group " << g.name << " members " << g.members << " next "
                      << g.next_sequence << "}";
        }
        std::cerr << std::endl;
    }
}

int publish(const ipcbus::Node& node, const std::string& topic, const Args& args) {
    auto pub = ipcbus::RawPublisher::create(node, topic, topic_options(args));
    if (!pub) return fail(pub.error().message);
    const auto number = static_cast<std::uint32_t>(args.number("pub", 1));
    pub->set_block_timeout(std::chrono::milliseconds(args.number("timeout_ms", 10'000)));
    const std::size_t slot = pub->max_payload_size();
    std::uint64_t total = 0;
    std::uint64_t blocked = 0;
    std::cout << "ready" << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line.starts_with("publish ")) {
            const std::uint64_t n = std::stoull(line.substr(8));
            for (std::uint64_t i = 0; i < n;) {
                auto loan = pub->loan(size_of_message(total, slot));
                if (!loan && loan.error() == ipcbus::LoanError::would_block) {
                    ++blocked;  // the test fails on it: report now rather than hang
                    report_blocked(node, topic, number);
                    break;
                }
                if (!loan) return fail(std::string(ipcbus::to_string(loan.error())));
                ipcbus::test::write_payload(loan->data(), number, total);
                auto published = pub->publish(std::move(*loan));
                while (!published && published.error() == ipcbus::LoanError::expired) {
                    published = pub->publish(std::move(*loan));  // stalled past the timeout
                }
                if (!published && published.error() == ipcbus::LoanError::would_block) {
                    ++blocked;  // the test fails on it: report now rather than hang
                    report_blocked(node, topic, number);
                    break;
                }
                if (!published) return fail(std::string(ipcbus::to_string(published.error())));
                ++total;
                ++i;
            }
            std::cout << "published " << total << " blocked=" << blocked << std::endl;
        } else if (line.starts_with("die_at ")) {
            if (!arm_death(line)) return fail("unknown hook point in " + line);
        } else if (line == "hold") {
            auto loan = pub->loan(size_of_message(total, slot));
            if (!loan) return fail(std::string(ipcbus::to_string(loan.error())));
            // Half a message in a private loan: readers must never see it, nor wait for it.
            auto half = loan->data().first(loan->data().size() / 2);
            for (auto& b : half) b = std::byte{0x5a};
            std::cout << "holding " << total << std::endl;
            std::getline(std::cin, line);  // killed here
            return 3;
        } else {
            return fail("unknown command " + line);
        }
    }
    std::cout << "exit " << total << " blocked=" << blocked << std::endl;
    return 0;
}

struct PerPublisher {
    std::uint64_t first = 0, last = 0, count = 0;
};

class Reader {
  public:
    Reader(ipcbus::RawSubscriber& sub, bool reliable, bool grouped, const std::string& log)
        : sub_(sub),
          reliable_(reliable),
          grouped_(grouped),
          start_(sub.next_sequence()),
          buffer_(sub.max_payload_size()) {
        if (!log.empty()) log_fd_ = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    }
    ~Reader() {
        if (log_fd_ >= 0) ::close(log_fd_);
    }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    [[nodiscard]] std::uint64_t start() const { return start_; }
    void die_after(std::uint64_t messages) { die_after_ = messages; }

    // Takes every message there is now; false on an error from the library.
    bool drain() {
        for (;;) {
            if (reliable_) {
                auto taken = sub_.take();
                if (!taken) return false;
                if (!taken->has_value()) {
                    while (!held_.empty()) finish_oldest();
                    return true;
                }
                check((**taken).data(), (**taken).overwritten());
                if (grouped_) {
                    held_.push_back(std::move(**taken));
                    if (held_.size() > kHeld) finish_oldest();
                }
            } else {
                auto info = sub_.take_copy(buffer_);
                if (!info) return false;
                if (!info->has_value()) return true;
                check(std::span<const std::byte>(buffer_.data(), (**info).size), false);
            }
        }
    }

    void print() const {
        for (const auto& [pub, p] : seen_) {
            std::cout << "pub " << pub << " first " << p.first << " last " << p.last << " count "
                      << p.count << '\n';
        }
        std::cout << "result delivered=" << delivered_ << " lost=" << sub_.lost()
                  << " skipped=" << sub_.skipped() << " torn=" << torn_ << " bad=" << bad_
                  << " start=" << start_ << " end=" << sub_.next_sequence() << std::endl;
    }

  private:
    void check(std::span<const std::byte> data, bool overwritten) {
        PayloadHeader h{};
        const bool intact = ipcbus::test::check_payload(data, h);
        // Reliable mode never reuses a slot a reader holds: a torn read is a failure too.
        if (overwritten) {
            ++torn_;
            return;
        }
        if (!intact) {
            ++bad_;
            std::cerr << "chaos reader: corrupt payload\n";
            return;
        }
        ++delivered_;
        // kill -9 at a moment the test's generator chose: right after taking a message,
        // holding it (and, in a group, the others not yet finished).
        if (die_after_ != 0 && --die_after_ == 0) ::raise(SIGKILL);
        auto [it, fresh] = seen_.try_emplace(h.publisher, PerPublisher{h.counter, h.counter, 0});
        PerPublisher& p = it->second;
        if (!fresh && !grouped_) {
            const bool in_order = reliable_ ? h.counter == p.last + 1 : h.counter > p.last;
            if (!in_order) {
                ++bad_;
                std::cerr << "chaos reader: publisher " << h.publisher << " counter " << h.counter
                          << " after " << p.last << '\n';
            }
        }
        p.last = h.counter;
        ++p.count;
    }

    // A group member's work on its oldest held message is done: log it, then release it.
    void finish_oldest() {
        PayloadHeader h{};
        if (!ipcbus::test::check_payload(held_.front().data(), h)) ++bad_;
        const std::string entry =
            std::to_string(h.publisher) + ' ' + std::to_string(h.counter) + '\n';
        if (::write(log_fd_, entry.data(), entry.size()) != static_cast<ssize_t>(entry.size())) {
            ++bad_;
        }
        held_.pop_front();
    }

    ipcbus::RawSubscriber& sub_;
    bool reliable_, grouped_;
    std::uint64_t start_;
    std::vector<std::byte> buffer_;
    int log_fd_ = -1;
    std::map<std::uint32_t, PerPublisher> seen_;
    // A group member works on up to kHeld + 1 messages at a time (zero-copy samples, so
    // the group counts them in flight): one killed in the middle of its messages usually
    // dies holding some it never finished, which the group must redeliver.
    static constexpr std::size_t kHeld = 3;
    std::deque<ipcbus::RawSample> held_;
    std::uint64_t delivered_ = 0, torn_ = 0, bad_ = 0;
    std::uint64_t die_after_ = 0;  // 0: live on
};

int run_reader(const ipcbus::Node& node, const std::string& topic, const Args& args) {
    ipcbus::ReaderOptions options;
    options.group = args.text("group", "");
    auto sub =
        ipcbus::RawSubscriber::create(node, topic, topic_options(args), ipcbus::any_type, options);
    if (!sub) return fail(sub.error().message);
    auto notify = sub->notification_fd();
    if (!notify) return fail(notify.error().message);
    Reader reader(*sub, sub->mode() == ipcbus::DeliveryMode::reliable, !options.group.empty(),
                  args.text("log", ""));
    std::cout << "ready start=" << reader.start() << std::endl;
    std::string pending;  // stdin bytes not yet ending in '\n'
    for (;;) {
        pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {*notify, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) return fail("poll failed");
        if ((fds[1].revents & POLLIN) != 0) {
            std::uint64_t count = 0;
            if (::read(*notify, &count, sizeof count) < 0 && errno != EAGAIN) {
                return fail("eventfd read failed");
            }
        }
        // Read after resetting the eventfd, so no arrival between the two is missed.
        if (!reader.drain()) return fail("take failed");
        if ((fds[0].revents & (POLLIN | POLLHUP)) != 0) {
            char chunk[256];
            const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
            if (n <= 0) return fail("stdin closed without finish");
            pending.append(chunk, static_cast<std::size_t>(n));
            bool finish = false;
            for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
                const std::string command = pending.substr(0, nl);
                pending.erase(0, nl + 1);
                if (command == "finish") {
                    finish = true;
                } else if (command.starts_with("die_after ")) {
                    reader.die_after(std::stoull(command.substr(10)));
                } else if (command.starts_with("die_at ")) {
                    if (!arm_death(command)) return fail("unknown hook point in " + command);
                } else {
                    return fail("unknown command " + command);
                }
            }
            if (finish) break;
        }
    }
    // Every publisher is done and the daemon has resolved the slots of dead ones: what
    // is in the ring now is all there will ever be.
    if (!reader.drain()) return fail("take failed");
    reader.print();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return ipcbus::test::run_peer(argc, argv, {{"publish", &publish}, {"read", &run_reader}});
}
