// SPDX-License-Identifier: Apache-2.0
// ipcbus_test_delivery_peer: publisher or subscriber process for the delivery-guarantee
// tests (reliable mode, many publishers, consumer groups, history).
//
//   ipcbus_test_delivery_peer publish DOMAIN TOPIC [key=value ...]
//       prints "ready" (with wait=1 then waits for a line on stdin), publishes `count`
//       checksummed messages carrying publisher number
//       `pub` and a per-publisher counter, prints "done <count>". In reliable mode with
//       timeout_ms >= 0, the first would_block prints "would_block <counter>"; it then
//       waits for ever (timeout -1) and goes on.
//   ipcbus_test_delivery_peer subscribe DOMAIN TOPIC [key=value ...]
//       attaches (group=, history=), prints "ready", with wait=1 waits for a line on
//       stdin, then reads until it has accounted for `expect` messages (a group member:
//       until the group has handed out `expect` and none is left, or it got `mine`), and
//       prints "result delivered=D lost=L torn=T skipped=S bad=B". With log=PATH it
//       writes "<pub> <counter>" for every message delivered. With hold=K it keeps the
//       last K samples (zero-copy) and checks each again when releasing it. With
//       hold_one=1 it takes one message, prints "holding <pub> <counter>" and waits.
//
// keys: mode=overwrite|reliable capacity=N size=N history_depth=N count=N pub=N timeout_ms=N
//       group=NAME
//       history=N expect=N mine=N wait=0|1 hold=K hold_one=0|1 work=N log=PATH
//       strict=0|1 (each publisher's counters must arrive without gaps)
//       expect_stdin=1 (the count to account for arrives later as "expect N" on stdin:
//       sequences, which exceed messages when a stalled publisher published again)
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "ipcbus/ipcbus.hpp"
#include "peer_args.hpp"
#include "test_payload.hpp"

namespace {

using ipcbus::test::PayloadHeader;

using Args = ipcbus::test::PeerArgs;

int fail(const std::string& what) {
    return ipcbus::test::peer_fail(what);
}

ipcbus::TopicOptions topic_options(const Args& args) {
    ipcbus::TopicOptions o;
    o.capacity = static_cast<std::uint32_t>(args.number("capacity", 1024));
    o.slot_size = static_cast<std::uint64_t>(args.number("size", 64));
    if (args.values.count("mode") != 0) {  // else: whatever the topic has
        o.mode = args.text("mode", "") == "reliable" ? ipcbus::DeliveryMode::reliable
                                                     : ipcbus::DeliveryMode::overwrite;
    }
    if (args.values.count("history_depth") != 0) {
        o.history_depth = static_cast<std::uint32_t>(args.number("history_depth", 1));
    }
    return o;
}

int publish(const ipcbus::Node& node, const std::string& topic, const Args& args) {
    auto pub = ipcbus::RawPublisher::create(node, topic, topic_options(args));
    if (!pub) return fail(pub.error().message);
    const auto count = static_cast<std::uint64_t>(args.number("count", 1000));
    const auto size = static_cast<std::size_t>(args.number("size", 64));
    const auto number = static_cast<std::uint32_t>(args.number("pub", 1));
    const long long timeout_ms = args.number("timeout_ms", -1);
    if (timeout_ms >= 0) pub->set_block_timeout(std::chrono::milliseconds(timeout_ms));
    std::cout << "ready" << std::endl;
    if (args.number("wait", 0) != 0) {
        std::string line;
        std::getline(std::cin, line);
    }
    bool told = false;
    for (std::uint64_t i = 0; i < count;) {
        auto loan = pub->loan(size);
        if (!loan && loan.error() == ipcbus::LoanError::would_block) {
            std::cout << "would_block " << i << std::endl;
            pub->set_block_timeout(std::chrono::nanoseconds::max());
            continue;
        }
        if (!loan) return fail(std::string(ipcbus::to_string(loan.error())));
        ipcbus::test::write_payload(loan->data(), number, i);
        for (;;) {  // a failed publish leaves the loan to us: publish it again
            auto published = pub->publish(std::move(*loan));
            if (published) break;
            if (published.error() == ipcbus::LoanError::would_block && !told) {
                std::cout << "would_block " << i << std::endl;
                told = true;
                pub->set_block_timeout(std::chrono::nanoseconds::max());
            } else if (published.error() != ipcbus::LoanError::expired) {
                return fail(std::string(ipcbus::to_string(published.error())));
            }
        }
        ++i;
    }
    std::cout << "done " << count << std::endl;
    return 0;
}

// What a subscriber has seen, and the checks it makes on every message.
class Tally {
  public:
    Tally(bool strict, const std::string& log_path) : strict_(strict) {
        if (!log_path.empty()) log_.open(log_path);
    }

    void deliver(const ipcbus::RawSample& sample, bool reliable) {
        PayloadHeader h{};
        bool intact = false;
        if (reliable) {  // nothing rewrites it while we hold it: read in place
            intact = ipcbus::test::check_payload(sample.data(), h);
        } else {
            // Overwrite mode: the publisher may lap us while we read. Copy it the way that
            // cannot be miscompiled, then check the copy: only the re-check after reading
            // tells whether it is the message (it may even be a whole newer one).
            copy_.resize(sample.data().size());
            if (!sample.copy_to(copy_)) {
                ++torn_;
                return;
            }
            intact = ipcbus::test::check_payload(copy_, h);
        }
        if (sample.overwritten()) {
            ++torn_;
            return;
        }
        if (!intact) {
            ++bad_;
            return;
        }
        auto [last, fresh] = last_counter_.try_emplace(h.publisher, h.counter);
        if (!fresh) {
            const bool in_order =
                strict_ ? h.counter == last->second + 1 : h.counter > last->second;
            if (!in_order) ++bad_;
            last->second = h.counter;
        }
        ++delivered_;
        if (log_.is_open()) log_ << h.publisher << ' ' << h.counter << '\n';
    }
    // A held sample must still be intact when released (reliable mode never reuses it).
    void recheck(const ipcbus::RawSample& sample) {
        PayloadHeader h{};
        if (!ipcbus::test::check_payload(sample.data(), h)) ++bad_;
    }

    [[nodiscard]] std::uint64_t delivered() const { return delivered_; }
    [[nodiscard]] std::uint64_t torn() const { return torn_; }
    void count_bad() { ++bad_; }
    void print(const ipcbus::RawSubscriber& sub) {
        log_.close();
        std::cout << "result delivered=" << delivered_ << " lost=" << sub.lost()
                  << " torn=" << torn_ << " skipped=" << sub.skipped() << " bad=" << bad_
                  << std::endl;
    }

  private:
    bool strict_;
    std::ofstream log_;
    std::map<std::uint32_t, std::uint64_t> last_counter_;
    std::uint64_t delivered_ = 0, torn_ = 0, bad_ = 0;
    std::vector<std::byte> copy_;  // overwrite mode: where a sample is copied to be checked
};

void busy_work(long long iterations) {
    for (long long i = 0; i < iterations; ++i) asm volatile("" ::: "memory");
}

int hold_one(ipcbus::RawSubscriber& sub) {
    for (;;) {
        auto taken = sub.take();
        if (!taken) return fail(std::string(ipcbus::to_string(taken.error())));
        if (!taken->has_value()) {
            ::sched_yield();
            continue;
        }
        PayloadHeader h{};
        if (!ipcbus::test::check_payload((*taken)->data(), h)) return fail("bad payload");
        std::cout << "holding " << h.publisher << ' ' << h.counter << std::endl;
        std::string line;
        std::getline(std::cin, line);  // the test kills us here
        return 0;
    }
}

int subscribe(const ipcbus::Node& node, const std::string& topic, const Args& args) {
    ipcbus::ReaderOptions reader;
    reader.group = args.text("group", "");
    reader.history = static_cast<std::uint32_t>(args.number("history", 0));
    auto sub =
        ipcbus::RawSubscriber::create(node, topic, topic_options(args), ipcbus::any_type, reader);
    if (!sub) return fail(sub.error().message);
    std::cout << "ready" << std::endl;
    if (args.number("wait", 0) != 0) {
        std::string line;
        std::getline(std::cin, line);
    }
    if (args.number("hold_one", 0) != 0) return hold_one(*sub);
    auto expect = static_cast<std::uint64_t>(args.number("expect", 1000));
    bool expect_known = args.number("expect_stdin", 0) == 0;
    auto learn_expect = [&] {
        if (expect_known) return;
        pollfd p{STDIN_FILENO, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) return;
        std::string word;
        if (std::cin >> word >> expect && word == "expect") expect_known = true;
    };
    const auto mine = static_cast<std::uint64_t>(args.number("mine", 0));
    const auto hold = static_cast<std::size_t>(args.number("hold", 0));
    const long long work = args.number("work", 0);
    const bool grouped = !reader.group.empty();
    Tally tally(args.number("strict", 0) != 0, args.text("log", ""));
    std::deque<ipcbus::RawSample> held;
    auto finished = [&] {
        learn_expect();
        if (!expect_known) return false;
        if (mine != 0) return tally.delivered() == mine;
        if (grouped) return sub->next_sequence() >= expect;
        return tally.delivered() + tally.torn() + sub->lost() + sub->skipped() >= expect;
    };
    for (;;) {
        auto taken = sub->take();
        if (!taken && taken.error() == ipcbus::ReceiveError::incompatible_topic) {
            return fail(sub->attach_error().value_or(ipcbus::Error{}).message);
        }
        if (!taken) {
            tally.count_bad();
            continue;
        }
        if (!taken->has_value()) {
            if (finished()) break;
            ::sched_yield();  // 2 cores, many processes: let the publisher run
            continue;
        }
        tally.deliver(**taken, sub->mode() == ipcbus::DeliveryMode::reliable);
        busy_work(work);
        if (hold == 0) continue;
        held.push_back(std::move(**taken));
        if (held.size() > hold) {
            tally.recheck(held.front());
            held.pop_front();
        }
    }
    for (const auto& sample : held) tally.recheck(sample);
    held.clear();
    tally.print(*sub);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return ipcbus::test::run_peer(argc, argv, {{"publish", &publish}, {"subscribe", &subscribe}});
}
