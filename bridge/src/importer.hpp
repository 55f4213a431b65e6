// Import: messages from NATS on subjects matching the patterns are published into local
// topics, created with the type the headers describe (so local typed subscribers get the
// usual type check). Runs on the NATS client's delivery threads. Everything from NATS is
// untrusted: a message without well-formed headers, of a foreign bus, too large for its
// topic or refused by it is counted and dropped with a log line, never a crash.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
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
        std::optional<RawPublisher> publisher;
        std::string refusal;  // why the topic refused us, if it did
        std::chrono::steady_clock::time_point retry_at{};
    };

    natsStatus subscribe_durable(const std::string& subject, natsSubscription** sub);
    static void on_message(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* self);
    void handle(natsMsg* msg);
    bool accept_sequence(const std::string& topic, const Metadata& meta);
    RawPublisher* local_publisher(const std::string& topic, const Metadata& meta);
    void garbage(const char* subject, const std::string& why);

    const Node& node_;
    NatsLink& link_;
    OwnPublishers& own_;
    Stats& stats_;
    ImportOptions options_;
    std::vector<natsSubscription*> subscriptions_;
    std::mutex mutex_;  // guards what follows: NATS may deliver on several threads
    std::map<std::string, LocalTopic> topics_;
    // (topic, origin, exporter run) -> next link sequence expected
    std::map<std::tuple<std::string, std::string, std::uint64_t>, std::uint64_t> expected_;
    std::uint64_t garbage_logged_ = 0;
};

}  // namespace ipcbus::bridge
