// SPDX-License-Identifier: Apache-2.0
#include "nats_link.hpp"

#include <spdlog/spdlog.h>

namespace ipcbus::bridge {

Error nats_error(const std::string& what, natsStatus status) {
    return Error{ErrorCode::system_error, what + ": " + natsStatus_GetText(status)};
}

Result<std::unique_ptr<NatsLink>> NatsLink::connect(const LinkOptions& options, Stats& stats) {
    std::unique_ptr<NatsLink> link(new NatsLink(options.url, stats));
    Events* events = link->events_;
    natsOptions* o = nullptr;
    natsStatus s = natsOptions_Create(&o);
    link->options_ = o;
    if (s == NATS_OK) s = natsOptions_SetURL(o, options.url.c_str());
    if (s == NATS_OK) s = natsOptions_SetName(o, "ipcbus-bridge");
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);  // for ever
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, options.reconnect_wait_ms);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(o, &on_disconnected, events);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(o, &on_reconnected, events);
    if (s == NATS_OK) s = natsOptions_SetClosedCB(o, &on_closed, events);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(o, &on_error, events);
    // Keep trying in the background when the server is not up yet, as after a reconnect.
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(o, true, &on_connected, events);
    if (s != NATS_OK) return nats_error("NATS options", s);
    s = natsConnection_Connect(&link->connection_, o);
    if (s == NATS_OK) {
        events->connected.store(true, std::memory_order_release);
        spdlog::info("connected to {}", options.url);
    } else if (s == NATS_NOT_YET_CONNECTED && options.jetstream) {
        return Error{ErrorCode::daemon_unreachable,
                     "--jetstream needs the NATS server at start: " + options.url};
    } else if (s == NATS_NOT_YET_CONNECTED) {
        spdlog::warn("NATS at {} not reachable yet; retrying in the background", options.url);
    } else {
        return nats_error("connecting to " + options.url, s);
    }
    if (options.jetstream) {
        if (auto ok = link->ensure_stream(options.nats_domain); !ok) return std::move(ok).error();
    }
    return link;
}

// Creates the bus's stream unless it exists: every subject of the bus, on disk, with a
// duplicate window so that a message re-sent after a lost acknowledgement (same
// Nats-Msg-Id) is stored once.
Result<Ok> NatsLink::ensure_stream(const std::string& nats_domain) {
    jsOptions options;
    jsOptions_Init(&options);
    natsStatus s = natsConnection_JetStream(&js_, connection_, &options);
    if (s != NATS_OK) return nats_error("JetStream", s);
    stream_ = "IPCBUS_" + nats_domain;
    jsStreamInfo* info = nullptr;
    jsErrCode code{};
    s = js_GetStreamInfo(&info, js_, stream_.c_str(), nullptr, &code);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(info);
        return Ok{};
    }
    const std::string subjects = "ipcbus." + nats_domain + ".>";
    const char* list[] = {subjects.c_str()};
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = stream_.c_str();
    config.Subjects = list;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Duplicates = 120LL * 1'000'000'000;  // ns: two minutes
    config.MaxAge = 3600LL * 1'000'000'000;     // ns: an hour of history for late hosts
    s = js_AddStream(&info, js_, &config, nullptr, &code);
    if (s != NATS_OK) {  // another bridge may have created it in the meantime
        s = js_GetStreamInfo(&info, js_, stream_.c_str(), nullptr, &code);
    }
    if (s != NATS_OK) {
        return nats_error("creating stream " + stream_ + " (JetStream enabled on the server?)", s);
    }
    jsStreamInfo_Destroy(info);
    spdlog::info("created JetStream stream {} for {}", stream_, subjects);
    return Ok{};
}

NatsLink::~NatsLink() {
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (connection_ != nullptr) {
        natsConnection_Close(connection_);  // on_closed follows, and frees events_
        natsConnection_Destroy(connection_);
    } else {
        delete events_;
    }
    natsOptions_Destroy(options_);
}

void NatsLink::on_connected(natsConnection*, void* events) {
    auto* e = static_cast<Events*>(events);
    e->connected.store(true, std::memory_order_release);
    spdlog::info("connected to {}", e->url);
    say("connected");
}

void NatsLink::on_disconnected(natsConnection*, void* events) {
    auto* e = static_cast<Events*>(events);
    // Release/acquire: the export loop that sees "disconnected" buffers from then on.
    e->connected.store(false, std::memory_order_release);
    spdlog::warn("disconnected from {}: buffering exports", e->url);
    say("disconnected");
}

void NatsLink::on_reconnected(natsConnection*, void* events) {
    auto* e = static_cast<Events*>(events);
    e->reconnects->fetch_add(1, std::memory_order_relaxed);
    e->connected.store(true, std::memory_order_release);
    spdlog::info("reconnected to {}", e->url);
    say("reconnected");
}

void NatsLink::on_closed(natsConnection*, void* events) {
    delete static_cast<Events*>(events);  // the client library's last call to us
}

void NatsLink::on_error(natsConnection*, natsSubscription* sub, natsStatus err, void*) {
    if (err == NATS_SLOW_CONSUMER && sub != nullptr) {
        // Counted where it shows: as gaps in the link sequences the importer checks.
        spdlog::warn("NATS: slow consumer, messages dropped by the client library");
        return;
    }
    spdlog::warn("NATS: {}", natsStatus_GetText(err));
}

}  // namespace ipcbus::bridge
