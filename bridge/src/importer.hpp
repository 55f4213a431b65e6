// SPDX-License-Identifier: Apache-2.0
// Import: messages from NATS on subjects matching the patterns are published into local
// topics, created with the type the headers describe (so local typed subscribers get the
// usual type check). Runs on the NATS client's delivery threads. Everything from NATS is
// untrusted: a message without well-formed headers, of a foreign bus, too large for its
// topic or refused by it is counted and dropped with a log line, never a crash.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ipcbus/ipcbus.hpp"
#include "metadata.hpp"
#include "nats_link.hpp"
#include "own_publishers.hpp"
#include "stats.hpp"

namespace ipcbus::bridge {

struct ImportOptions {
    std::vector<std::string> patterns;
    std::string nats_domain;
    std::string origin;  // this host's id: messages from it are echoes, dropped
    // A reliable local topic whose ring is full: how long to wait before dropping.
    std::chrono::milliseconds block_timeout{1000};
    int pending_messages = 1'000'000;  // NATS client queue per subscription
    int pending_bytes = 1 << 30;
};

class Importer {
  public:
    Importer(const Node& node, NatsLink& link, OwnPublishers& own, Stats& stats,
             ImportOptions options);
    Importer(const Importer&) = delete;
    Importer& operator=(const Importer&) = delete;
    ~Importer();

    /// Subscribes to the patterns' subjects and waits until the server has them.
    Result<Ok> start();
    /// Stops delivery (call before the connection closes).
    void stop();
    /// Marks every imported topic with the daemon again (after a daemon restart).
    void announce();

  private:
    struct LocalTopic {
        std::mutex publishing;  // a publisher is used by one thread at a time
        std::optional<RawPublisher> publisher;
        std::string refusal;  // why the topic refused us, if it did
        std::chrono::steady_clock::time_point retry_at{};
    };

    natsStatus subscribe_durable(const std::string& subject, natsSubscription** sub);
    // What a subject leads to, worked out once: its topic, whether a pattern wants it, and
    // per (origin, exporter run) the next link sequence expected.
    struct Expected {
        std::uint64_t next;      // link sequence expected next
        std::uint64_t last_use;  // Importer::uses_ when last seen: the oldest run goes first
    };
    struct Route {
        std::string topic;
        LocalTopic* local = nullptr;  // into topics_ (a std::map: stable)
        // (origin, exporter run) -> what comes next; at most kMaxRunsPerRoute, since
        // both come from untrusted headers.
        std::map<std::pair<std::string, std::uint64_t>, Expected> expected;
    };

    Route* route_for(const char* subject);
    static void on_message(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* self);
    void handle(natsMsg* msg);
    bool accept_sequence(Route& route, const Metadata& meta);
    RawPublisher* local_publisher(Route& route, const Metadata& meta);
    void garbage(const char* subject, const std::string& why);

    const Node& node_;
    NatsLink& link_;
    OwnPublishers& own_;
    Stats& stats_;
    ImportOptions options_;
    std::vector<natsSubscription*> subscriptions_;
    std::mutex mutex_;  // guards what follows: NATS may deliver on several threads
    std::map<std::string, LocalTopic> topics_;
    std::unordered_map<std::string, Route> routes_;  // by subject, at most kMaxRoutes
    std::uint64_t garbage_logged_ = 0;
    std::uint64_t uses_ = 0;
    std::atomic<std::uint64_t> refusals_logged_{0};
};

}  // namespace ipcbus::bridge
