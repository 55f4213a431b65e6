// SPDX-License-Identifier: Apache-2.0
// The bridge's connection to NATS: connects (retrying in the background while the server
// is away), reconnects for ever, and reports the state changes.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <memory>
#include <string>

#include "ipcbus/result.hpp"
#include "stats.hpp"

namespace ipcbus::bridge {

struct LinkOptions {
    std::string url = "nats://127.0.0.1:4222";
    int reconnect_wait_ms = 100;  // between reconnection attempts
    // JetStream: the bus's subjects are kept in a durable stream; publishes wait for the
    // stream's acknowledgement, and importers read through durable consumers.
    bool jetstream = false;
    std::string nats_domain;  // names the stream (IPCBUS_<domain>) and its subjects
};

class NatsLink {
  public:
    /// Starts connecting; succeeds even while the server is down (it keeps trying).
    static Result<std::unique_ptr<NatsLink>> connect(const LinkOptions& options, Stats& stats);
    NatsLink(const NatsLink&) = delete;
    NatsLink& operator=(const NatsLink&) = delete;
    ~NatsLink();

    /// True while connected: a publish now goes to the server, not to a buffer.
    [[nodiscard]] bool connected() const noexcept {
        return events_->connected.load(std::memory_order_acquire);
    }
    [[nodiscard]] natsConnection* connection() const noexcept { return connection_; }
    [[nodiscard]] const std::string& url() const noexcept { return url_; }
    /// The JetStream context, or null without --jetstream.
    [[nodiscard]] jsCtx* jetstream() const noexcept { return js_; }
    /// The stream that keeps the bus (JetStream only).
    [[nodiscard]] const std::string& stream() const noexcept { return stream_; }

  private:
    // What the client library's callbacks touch. They run on its own thread, and may still
    // run after the connection object is gone: the last one (closed) deletes this.
    struct Events {
        std::string url;
        std::atomic<std::uint64_t>* reconnects;
        std::atomic<bool> connected{false};
    };

    NatsLink(std::string url, Stats& stats)
        : url_(url), events_(new Events{std::move(url), &stats.reconnects}) {}
    static void on_connected(natsConnection* nc, void* events);
    static void on_disconnected(natsConnection* nc, void* events);
    static void on_reconnected(natsConnection* nc, void* events);
    static void on_closed(natsConnection* nc, void* events);
    static void on_error(natsConnection* nc, natsSubscription* sub, natsStatus err, void* events);

    std::string url_;
    Events* events_;  // deleted by on_closed, or by us if no connection was ever made
    natsOptions* options_ = nullptr;
    natsConnection* connection_ = nullptr;
    jsCtx* js_ = nullptr;
    std::string stream_;

    Result<Ok> ensure_stream(const std::string& nats_domain);
};

/// A NATS status as an Error for our Result<>.
Error nats_error(const std::string& what, natsStatus status);

}  // namespace ipcbus::bridge
