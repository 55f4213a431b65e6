// SPDX-License-Identifier: Apache-2.0
// Export: local topics matching the patterns go out to NATS. Runs on the thread that
// calls run(). It reads like any subscriber, so a reliable topic is exported without loss
// (the publisher waits for the bridge as for any reader), while an overwrite topic never
// waits for it. While NATS is away, messages wait in a bounded buffer; when it is full
// the oldest are dropped and counted. Local publishers are never blocked by NATS.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ipcbus/ipcbus.hpp"
#include "metadata.hpp"
#include "nats_link.hpp"
#include "own_publishers.hpp"
#include "stats.hpp"

namespace ipcbus::bridge {

struct ExportOptions {
    std::vector<std::string> patterns;
    std::string nats_domain;
    std::string origin;                     // this host's id
    std::size_t buffer_messages = 100'000;  // bound of the disconnected buffer
    std::size_t buffer_bytes = 64U << 20;
    std::chrono::milliseconds report_every{5000};
};

class Exporter {
  public:
    Exporter(const Node& node, NatsLink& link, const OwnPublishers& own, Stats& stats,
             ExportOptions options);
    Exporter(const Exporter&) = delete;
    Exporter& operator=(const Exporter&) = delete;
    ~Exporter();

    /// Starts watching the patterns (fails on a malformed one).
    Result<Ok> start();
    /// Marks every exported topic with the daemon again (after a daemon restart).
    void announce() const;
    /// Carries messages until `stop` is set; `tick` runs about every report interval.
    void run(const std::atomic<bool>& stop, const std::function<void()>& tick);

  private:
    struct Topic;

    void adopt_new_topics();
    bool export_topic(const std::string& name);
    bool pump(Topic& topic);
    enum class Sent : std::uint8_t { done, later };  // done: sent, or dropped and counted
    Sent publish(natsMsg* msg);
    void send(natsMsg* msg);
    void flush_buffer();
    void buffer(natsMsg* msg);
    void wait_for_messages();
    void push_out();

    const Node& node_;
    NatsLink& link_;
    const OwnPublishers& own_;
    Stats& stats_;
    ExportOptions options_;
    std::uint64_t run_id_;
    std::vector<TopicWatcher> watchers_;
    std::vector<std::unique_ptr<Topic>> topics_;
    std::set<std::string> exported_;  // names of topics_, which several patterns may match
    std::set<std::string> retry_;     // matching names not exported yet
    std::chrono::steady_clock::time_point next_retry_{};
    WaitSet waitset_;
    std::deque<natsMsg*> buffer_;
    std::size_t buffer_bytes_ = 0;
    std::uint64_t pushed_ = 0;  // messages exported when we last pushed the buffer out
};

}  // namespace ipcbus::bridge
