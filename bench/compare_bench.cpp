// SPDX-License-Identifier: Apache-2.0
// ipcbus_bench_compare: the raw shared-memory floor and ipcbus in the comparison table of
// scripts/bench.sh (the other systems are in bench/peers/). See compare.hpp for the runs.
//
//   raw        ping-pong: a sequence number bounced through one cache line (touch mode:
//              plus a shared buffer per direction, every byte written before the store
//              and read after the load); stream: an SPSC ring of `slots` slots, the
//              sender waits when it is full.
//   ipcbus     two reliable topics (ping, pong), slot = payload size; loan + write +
//              publish; the receiver take()s in place (busy-poll) or receive()s (blocking:
//              spin_then_block with no spin, so every wait sleeps on the futex).
//   ipcbus x4  four subscriber processes, all answering; A waits for the four answers.
//   ipcbus 2nd publisher
//              as busy-poll, with a second publisher attached to the ping topic (a thread
//              of A sending a 1-byte message every millisecond, which B skips): the topic
//              then takes the shared claim path instead of the lone publisher's exclusive
//              one. The cost of a second publisher, without oversubscribing two cores.
//   ipcbus inline / ipcbus pool (only when named with --systems)
//              as busy-poll, with the payload forced into the frame (copied from the
//              loan at publish) or into the buffer pool (written in place): where the pool
//              threshold belongs (bench/README.md).
// Every ipcbus row reads in place from reliable topics: plain loads (nothing rewrites a
// frame a reader has not released), not the atomic copies overwrite-mode samples need.
//
// Usage: ipcbus_bench_compare [options]; --help lists them.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include "compare.hpp"
#include "ipcbus/ipcbus.hpp"

namespace {

using namespace bench;           // NOLINT(google-build-using-namespace)
using namespace bench::compare;  // NOLINT(google-build-using-namespace)

constexpr std::size_t kLine = 64;

constexpr std::size_t round_up(std::size_t n) {
    return (n + kLine - 1) / kLine * kLine;
}

/// The raw floor. Scratch layout (made by the parent before the forks):
///   [word line][cursor line][ping buffer: size][pong buffer: size][ring: slots x (line + size)]
class RawLink {
  public:
    static std::size_t scratch_bytes(const Case& c) {
        return 2 * kLine + 2 * round_up(c.size) + c.slots * (kLine + round_up(c.size));
    }

    explicit RawLink(const Endpoint& ep)
        : role_(ep.role), c_(ep.c), base_(static_cast<std::byte*>(ep.scratch)) {
        word_ = ::new (base_) std::atomic<std::uint64_t>;
        cursor_ = ::new (base_ + kLine) std::atomic<std::uint64_t>;
        buffer_ = 2 * kLine;
        ring_ = buffer_ + 2 * round_up(c_.size);
        stride_ = kLine + round_up(c_.size);
    }

    void sync() {}

    void send(std::uint64_t k) {
        if (c_.run == Run::stream && role_ == Role::a) {
            // Ring: wait for a free slot, write the payload, then publish its sequence.
            if (k - cached_cursor_ >= c_.slots) {
                // Acquire pairs with the reader's release of the cursor: its reads are done.
                spin_until([&] {
                    cached_cursor_ = cursor_->load(std::memory_order_acquire);
                    return k - cached_cursor_ < c_.slots;
                });
            }
            std::byte* slot = base_ + ring_ + (k % c_.slots) * stride_;
            if (c_.touch) fill_payload({slot + kLine, c_.size}, k, true);
            // Release: the payload is written before the sequence is seen.
            reinterpret_cast<std::atomic<std::uint64_t>*>(slot)->store(k + 1,
                                                                       std::memory_order_release);
            return;
        }
        if (c_.touch) fill_payload({own_buffer(), c_.size}, k, true);
        // Release: pairs with the peer's acquire load in receive(); publishes the buffer.
        word_->store(word_value(role_, k), std::memory_order_release);
    }

    void receive(std::uint64_t k) {
        const Role from = role_ == Role::a ? Role::b : Role::a;
        if (c_.run == Run::stream && role_ == Role::b) {
            std::byte* slot = base_ + ring_ + (k % c_.slots) * stride_;
            auto* seq = reinterpret_cast<std::atomic<std::uint64_t>*>(slot);
            // Acquire: pairs with the writer's release store; the payload is complete.
            spin_until([&] { return seq->load(std::memory_order_acquire) == k + 1; });
            if (c_.touch) expect_payload({slot + kLine, c_.size}, c_.size, k, true, "raw ring");
            // Release: pairs with the writer's acquire load: the slot may be reused.
            cursor_->store(k + 1, std::memory_order_release);
            return;
        }
        const std::uint64_t want = word_value(from, k);
        // Acquire: pairs with the sender's release store in send().
        spin_until([&] { return word_->load(std::memory_order_acquire) == want; });
        if (c_.touch) expect_payload({peer_buffer(), c_.size}, c_.size, k, true, "raw floor");
    }

  private:
    static std::uint64_t word_value(Role from, std::uint64_t k) noexcept {
        return from == Role::a ? 2 * k + 1 : 2 * k + 2;
    }
    std::byte* own_buffer() const noexcept {
        return base_ + buffer_ + (role_ == Role::a ? 0 : round_up(c_.size));
    }
    std::byte* peer_buffer() const noexcept {
        return base_ + buffer_ + (role_ == Role::a ? round_up(c_.size) : 0);
    }

    Role role_;
    Case c_;
    std::byte* base_;
    std::atomic<std::uint64_t>* word_;
    std::atomic<std::uint64_t>* cursor_;
    std::size_t buffer_ = 0;
    std::size_t ring_ = 0;
    std::size_t stride_ = 0;
    std::uint64_t cached_cursor_ = 0;
};

template <class T>
T must(ipcbus::Result<T> result, std::string_view what) {
    if (!result) fail(std::string(what) + ": " + result.error().message);
    return std::move(result).value();
}

/// Where an ipcbus row keeps its payloads.
enum class Payloads { by_default, inline_frames, pool };

/// How an ipcbus row runs.
struct IpcbusRow {
    bool blocking = false;
    bool second_publisher = false;  // a 1 kHz publisher on the ping topic as well
    Payloads payloads = Payloads::by_default;
};

/// A second publisher on a topic, sending a 1-byte message every millisecond from a
/// thread of its own until destroyed.
class SecondPublisher {
  public:
    SecondPublisher(const ipcbus::Node& node, const std::string& topic,
                    const ipcbus::TopicOptions& options)
        : pub_(must(ipcbus::RawPublisher::create(node, topic, options), "second publisher")),
          thread_([this] { run(); }) {}
    ~SecondPublisher() {
        stop_.store(true, std::memory_order_relaxed);  // a flag; join() orders the rest
        thread_.join();
    }
    SecondPublisher(const SecondPublisher&) = delete;
    SecondPublisher& operator=(const SecondPublisher&) = delete;

  private:
    void run() {
        const std::byte one[1]{};
        auto next = std::chrono::steady_clock::now();
        while (!stop_.load(std::memory_order_relaxed)) {
            next += std::chrono::milliseconds(1);
            std::this_thread::sleep_until(next);
            (void)pub_.send(one);  // a full reliable ring: the row's own sender waits too
        }
    }

    ipcbus::RawPublisher pub_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

/// ipcbus: A publishes on ping and reads pong; each B the reverse.
class IpcbusLink {
  public:
    IpcbusLink(const Endpoint& ep, const IpcbusRow& row)
        : c_(ep.c),
          blocking_(row.blocking),
          node_(make_node(ep.tag)),
          pub_(must(ipcbus::RawPublisher::create(node_, topic(ep, ep.role == Role::a),
                                                 options(ep.c, row.payloads)),
                    "publisher")),
          sub_(must(ipcbus::RawSubscriber::create(node_, topic(ep, ep.role != Role::a),
                                                  options(ep.c, row.payloads)),
                    "subscriber")) {
        if (blocking_) sub_.set_wait_strategy(ipcbus::WaitStrategy::spin_then_block, {});
        if (row.second_publisher && ep.role == Role::a) {
            second_.emplace(node_, topic(ep, true), options(ep.c, row.payloads));
        }
    }

    void sync() {}

    void send(std::uint64_t k) {
        auto loan = pub_.loan(c_.size);
        if (!loan) fail(std::string("loan: ") + std::string(ipcbus::to_string(loan.error())));
        fill_payload(loan->data(), k, c_.touch);
        if (auto published = pub_.publish(std::move(*loan)); !published) {
            fail(std::string("publish: ") + std::string(ipcbus::to_string(published.error())));
        }
    }

    void receive(std::uint64_t k) {
        if (blocking_) {
            auto got = sub_.receive(std::chrono::seconds(60));
            if (!got) fail(std::string("receive: ") + std::string(ipcbus::to_string(got.error())));
            expect_payload(got->data(), c_.size, k, c_.touch, "ipcbus");
            return;
        }
        Waiter waiter(nullptr);
        for (;;) {
            auto got = sub_.take();
            if (!got) fail(std::string("take: ") + std::string(ipcbus::to_string(got.error())));
            if (got->has_value() && (*got)->data().size() == 1) continue;  // the 2nd publisher
            if (got->has_value()) {
                expect_payload((*got)->data(), c_.size, k, c_.touch, "ipcbus");
                return;
            }
            waiter.pause();
        }
    }

  private:
    static ipcbus::Node make_node(const std::string& tag) {
        ipcbus::NodeOptions options;
        options.domain = "benchcmp" + tag.substr(0, tag.find('-'));
        return must(ipcbus::Node::create(options), "node");
    }
    static std::string topic(const Endpoint& ep, bool ping) {
        return std::string("cmp/") + (ping ? "ping-" : "pong-") + ep.tag;
    }
    static ipcbus::TopicOptions options(const Case& c, Payloads payloads) {
        ipcbus::TopicOptions options;
        options.slot_size = c.size;
        options.capacity = c.slots;
        options.mode = ipcbus::DeliveryMode::reliable;
        if (payloads == Payloads::inline_frames) options.pool_threshold = c.size;
        if (payloads == Payloads::pool) options.pool_threshold = 1;
        return options;
    }

    Case c_;
    bool blocking_;
    ipcbus::Node node_;
    ipcbus::RawPublisher pub_;
    ipcbus::RawSubscriber sub_;
    std::optional<SecondPublisher> second_;  // A, in the 2nd-publisher rows
};

System ipcbus_system(std::string key, std::string label, std::size_t peers, IpcbusRow row,
                     bool by_default = true) {
    System s{std::move(key),
             std::move(label),
             peers,
             [row](Endpoint& ep) {
                 IpcbusLink link(ep, row);
                 drive(link, ep);
             },
             {},
             {}};
    s.by_default = by_default;
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<System> systems;
    systems.push_back({"raw",
                       "raw floor (cache line; SPSC ring)",
                       1,
                       [](Endpoint& ep) {
                           RawLink link(ep);
                           drive(link, ep);
                       },
                       &RawLink::scratch_bytes,
                       {}});
    systems.push_back(ipcbus_system("ipcbus_poll", "ipcbus busy-poll", 1, {}));
    systems.push_back(ipcbus_system("ipcbus_poll_2pub", "ipcbus busy-poll, 2nd pub 1 kHz", 1,
                                    {.second_publisher = true}));
    systems.push_back(ipcbus_system("ipcbus_block", "ipcbus blocking", 1, {.blocking = true}));
    systems.push_back(
        ipcbus_system("ipcbus_4sub", "ipcbus 4 subscribers, blocking", 4, {.blocking = true}));
    systems.push_back(ipcbus_system("ipcbus_inline", "ipcbus busy-poll, inline payload", 1,
                                    {.payloads = Payloads::inline_frames}, false));
    systems.push_back(ipcbus_system("ipcbus_pool", "ipcbus busy-poll, pool payload", 1,
                                    {.payloads = Payloads::pool}, false));
    return compare_main(argc, argv, systems);
}
