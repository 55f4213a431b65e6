// SPDX-License-Identifier: Apache-2.0
// ipcbus_bench_micro: in-process cost of the hot-path calls (Google Benchmark).
//
// Every benchmark opens its topics in a domain private to this run ("bench" + pid) and
// closes them before it returns; main() checks that the daemon holds no topic afterwards.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "ipcbus/ipcbus.hpp"

namespace {

constexpr std::size_t kSmall = 64;
constexpr std::size_t kHuge = 1024 * 1024;
constexpr std::uint32_t kCapacity = 1024;
constexpr std::uint32_t kHugeCapacity = 16;  // 16 MiB segment for the 1 MiB topic
constexpr std::int64_t kBatch = 512;         // messages prepared untimed for take benchmarks

std::optional<ipcbus::Node> g_node;

ipcbus::TopicOptions options_for(std::size_t slot_size, std::uint32_t capacity) {
    ipcbus::TopicOptions options;
    options.slot_size = slot_size;
    options.capacity = capacity;
    return options;
}

/// Opens a publisher (and optionally a subscriber) or marks the benchmark failed.
struct Endpoints {
    std::optional<ipcbus::RawPublisher> pub;
    std::optional<ipcbus::RawSubscriber> sub;

    bool open(benchmark::State& state, const std::string& topic, std::size_t slot_size,
              std::uint32_t capacity, bool with_subscriber) {
        const auto options = options_for(slot_size, capacity);
        auto p = ipcbus::RawPublisher::create(*g_node, topic, options);
        if (!p) {
            state.SkipWithError(p.error().message.c_str());
            return false;
        }
        pub.emplace(std::move(p).value());
        if (with_subscriber) {
            auto s = ipcbus::RawSubscriber::create(*g_node, topic, options);
            if (!s) {
                state.SkipWithError(s.error().message.c_str());
                return false;
            }
            sub.emplace(std::move(s).value());
        }
        return true;
    }
};

/// Writes the sequence number, then (if every_byte) fills the rest of the message.
inline void fill(std::span<std::byte> data, std::uint64_t seq, bool every_byte) {
    if (every_byte && data.size() > sizeof(seq)) {
        std::memset(data.data() + sizeof(seq), static_cast<int>(seq & 0xffU),
                    data.size() - sizeof(seq));
    }
    std::memcpy(data.data(), &seq, sizeof(seq));
}

inline std::uint64_t header_of(std::span<const std::byte> data) {
    std::uint64_t seq = 0;
    std::memcpy(&seq, data.data(), sizeof(seq));
    return seq;
}

// loan + write every byte + publish; no subscriber attached (the publisher never looks).
void BM_LoanPublish(benchmark::State& state) {
    const auto size = static_cast<std::size_t>(state.range(0));
    Endpoints e;
    if (!e.open(state, "micro/loan-" + std::to_string(size), size, kCapacity, false)) return;
    std::uint64_t counter = 0;
    for (auto _ : state) {
        auto loan = e.pub->loan(size);
        if (!loan) {
            state.SkipWithError("loan failed");
            break;
        }
        fill(loan->data(), counter++, true);
        benchmark::DoNotOptimize(e.pub->publish(std::move(*loan)));
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_LoanPublish)->Arg(64)->Arg(4096);

// 1 MiB loan, only an 8-byte header written: zero-copy cost must not depend on size.
void BM_LoanPublish1MiBHeaderOnly(benchmark::State& state) {
    Endpoints e;
    if (!e.open(state, "micro/loan-1m", kHuge, kHugeCapacity, false)) return;
    std::uint64_t counter = 0;
    for (auto _ : state) {
        auto loan = e.pub->loan(kHuge);
        if (!loan) {
            state.SkipWithError("loan failed");
            break;
        }
        fill(loan->data(), counter++, false);
        benchmark::DoNotOptimize(e.pub->publish(std::move(*loan)));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LoanPublish1MiBHeaderOnly);

// send(): copy 64 B from a caller's buffer into a slot and publish.
void BM_Send64(benchmark::State& state) {
    Endpoints e;
    if (!e.open(state, "micro/send", kSmall, kCapacity, false)) return;
    std::byte buffer[kSmall];
    fill(buffer, 42, true);
    for (auto _ : state) {
        auto seq = e.pub->send(buffer);
        if (!seq) {
            state.SkipWithError("send failed");
            break;
        }
        benchmark::DoNotOptimize(*seq);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Send64);

// take() (zero-copy) of a message published earlier: batches of kBatch messages are
// published with the timer paused, then taken one by one (header read, overwrite check).
void BM_Take64(benchmark::State& state) {
    Endpoints e;
    if (!e.open(state, "micro/take", kSmall, kCapacity, true)) return;
    std::byte buffer[kSmall];
    fill(buffer, 7, true);
    while (state.KeepRunningBatch(kBatch)) {
        state.PauseTiming();
        for (std::int64_t i = 0; i < kBatch; ++i) (void)e.pub->send(buffer);
        state.ResumeTiming();
        for (std::int64_t i = 0; i < kBatch; ++i) {
            auto got = e.sub->take();
            if (!got || !got->has_value()) {
                state.SkipWithError("take found no message");
                return;
            }
            const ipcbus::RawSample& sample = **got;
            benchmark::DoNotOptimize(header_of(sample.data()));
            benchmark::DoNotOptimize(sample.overwritten());
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Take64);

// take_copy() of 64 B into a caller's buffer (consistent copy), same batching as above.
void BM_TakeCopy64(benchmark::State& state) {
    Endpoints e;
    if (!e.open(state, "micro/take-copy", kSmall, kCapacity, true)) return;
    std::byte buffer[kSmall];
    fill(buffer, 7, true);
    alignas(64) std::byte copy[kSmall];
    while (state.KeepRunningBatch(kBatch)) {
        state.PauseTiming();
        for (std::int64_t i = 0; i < kBatch; ++i) (void)e.pub->send(buffer);
        state.ResumeTiming();
        for (std::int64_t i = 0; i < kBatch; ++i) {
            auto got = e.sub->take_copy(copy);
            if (!got || !got->has_value()) {
                state.SkipWithError("take_copy found no message");
                return;
            }
            benchmark::DoNotOptimize(copy);
            benchmark::DoNotOptimize((*got)->sequence);
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TakeCopy64);

// loan + write 64 B + publish, then take (zero-copy) + read it back: one message's whole
// in-process round of the hot path.
void BM_PublishTake64(benchmark::State& state) {
    Endpoints e;
    if (!e.open(state, "micro/pair", kSmall, kCapacity, true)) return;
    std::uint64_t counter = 0;
    for (auto _ : state) {
        auto loan = e.pub->loan(kSmall);
        if (!loan) {
            state.SkipWithError("loan failed");
            break;
        }
        fill(loan->data(), counter++, true);
        if (!e.pub->publish(std::move(*loan))) {
            state.SkipWithError("publish failed");
            break;
        }
        auto got = e.sub->take();
        if (!got || !got->has_value()) {
            state.SkipWithError("take found no message");
            break;
        }
        benchmark::DoNotOptimize(header_of((*got)->data()));
        benchmark::DoNotOptimize((*got)->overwritten());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PublishTake64);

}  // namespace

int main(int argc, char** argv) {
    const std::string domain = "bench" + std::to_string(::getpid());
    ipcbus::NodeOptions options;
    options.domain = domain;
    auto node = ipcbus::Node::create(options);
    if (!node) {
        std::fprintf(stderr, "ipcbus_bench_micro: %s\n", node.error().message.c_str());
        return 1;
    }
    g_node.emplace(std::move(node).value());

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("ipcbus_domain", domain);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();

    // Every benchmark closed its endpoints, so the daemon must have dropped every topic.
    auto topics = g_node->list_topics();
    if (!topics || !topics->empty()) {
        std::fprintf(stderr, "ipcbus_bench_micro: topics left in the daemon's registry\n");
        return 1;
    }

    return 0;
}
