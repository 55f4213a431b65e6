// SPDX-License-Identifier: Apache-2.0
// The bridge's counters: bumped by the export loop and the NATS callback threads, read by
// the periodic report. Relaxed atomics: each is an independent count, read as a snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace ipcbus::bridge {

struct Stats {
    // export: local topics -> NATS
    std::atomic<std::uint64_t> exported{0};         // handed to NATS
    std::atomic<std::uint64_t> local_lost{0};       // overrun in the local ring before we read them
    std::atomic<std::uint64_t> buffered{0};         // waiting for the connection now
    std::atomic<std::uint64_t> buffer_dropped{0};   // oldest dropped from a full buffer
    std::atomic<std::uint64_t> not_reexported{0};   // imported messages we did not send back
    std::atomic<std::uint64_t> deduplicated{0};     // JetStream: re-sent, stored only once
    std::atomic<std::uint64_t> refused_by_nats{0};  // over the server's max_payload
    // import: NATS -> local topics
    std::atomic<std::uint64_t> imported{0};    // published locally
    std::atomic<std::uint64_t> gaps{0};        // sent by an exporter, never received here
    std::atomic<std::uint64_t> duplicates{0};  // received twice (dropped)
    std::atomic<std::uint64_t> echoes{0};      // our own messages back from NATS (dropped)
    std::atomic<std::uint64_t> garbage{0};     // not a well-formed bridge message (dropped)
    std::atomic<std::uint64_t> refused{0};     // the local topic refused it (type, size, full)
    std::atomic<std::uint64_t> reconnects{0};

    static std::uint64_t get(const std::atomic<std::uint64_t>& counter) {
        return counter.load(std::memory_order_relaxed);
    }
    static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
        counter.fetch_add(n, std::memory_order_relaxed);
    }

    [[nodiscard]] nlohmann::json to_json() const {
        return {{"exported", get(exported)},
                {"local_lost", get(local_lost)},
                {"buffered", get(buffered)},
                {"buffer_dropped", get(buffer_dropped)},
                {"not_reexported", get(not_reexported)},
                {"deduplicated", get(deduplicated)},
                {"refused_by_nats", get(refused_by_nats)},
                {"imported", get(imported)},
                {"gaps", get(gaps)},
                {"duplicates", get(duplicates)},
                {"echoes", get(echoes)},
                {"garbage", get(garbage)},
                {"refused", get(refused)},
                {"reconnects", get(reconnects)}};
    }
};

/// One line on stdout, whole, flushed at once: what tests and scripts wait for ("ready",
/// "export TOPIC", "import TOPIC", "disconnected", "reconnected", "stats {...}").
inline void say(const std::string& line) {
    static std::mutex mutex;
    const std::lock_guard lock(mutex);
    std::fputs((line + "\n").c_str(), stdout);
    std::fflush(stdout);
}

}  // namespace ipcbus::bridge
