// SPDX-License-Identifier: Apache-2.0
#include "exporter.hpp"

#include <spdlog/spdlog.h>

#include <random>
#include <thread>

#include "subject.hpp"

namespace ipcbus::bridge {

struct Exporter::Topic {
    RawSubscriber subscriber;
    std::string name;
    std::string subject;
    Metadata meta;  // the per-topic fields, filled in once
    std::uint64_t lost_seen = 0;
};

Exporter::Exporter(const Node& node, NatsLink& link, const OwnPublishers& own, Stats& stats,
                   ExportOptions options)
    : node_(node),
      link_(link),
      own_(own),
      stats_(stats),
      options_(std::move(options)),
      run_id_(std::random_device{}() * 0x100000000ULL + std::random_device{}()) {}

Exporter::~Exporter() {
    for (natsMsg* msg : buffer_) natsMsg_Destroy(msg);
}

Result<Ok> Exporter::start() {
    for (const auto& pattern : options_.patterns) {
        auto watcher = TopicWatcher::create(node_, pattern);
        if (!watcher) return std::move(watcher).error();
        watchers_.push_back(std::move(watcher).value());
    }
    adopt_new_topics();
    return Ok{};
}

// New names from the watchers, and names whose subscription failed before (the daemon
// restarting, a full reader table): retried at most once a second.
void Exporter::adopt_new_topics() {
    for (auto& watcher : watchers_) {
        auto names = watcher.poll();
        if (!names) continue;  // the daemon is restarting: ask again next time
        for (auto& name : *names) {
            if (!exported_.contains(name)) retry_.insert(std::move(name));
        }
    }
    const auto now = std::chrono::steady_clock::now();
    if (retry_.empty() || now < next_retry_) return;
    next_retry_ = now + std::chrono::seconds(1);
    for (auto it = retry_.begin(); it != retry_.end();) {
        it = export_topic(*it) ? retry_.erase(it) : std::next(it);
    }
}

bool Exporter::export_topic(const std::string& name) {
    auto subscriber = RawSubscriber::create(node_, name);
    if (!subscriber) {
        spdlog::warn("cannot export '{}' (will retry): {}", name, subscriber.error().message);
        return false;
    }
    if (!subscriber->is_attached()) {  // the topic went away since it was announced
        spdlog::warn("cannot export '{}' (will retry): it does not exist any more", name);
        return false;
    }
    const TypeInfo type = subscriber->type();
    const std::size_t slot = subscriber->max_payload_size();
    if (link_.connected() && slot > static_cast<std::size_t>(std::max<std::int64_t>(
                                        0, natsConnection_GetMaxPayload(link_.connection())))) {
        spdlog::warn(
            "'{}': slots of {} bytes, larger than the NATS server's max_payload of {}: "
            "larger messages will be dropped and counted",
            name, slot, natsConnection_GetMaxPayload(link_.connection()));
    }
    Metadata meta{options_.origin,
                  run_id_,
                  0,
                  0,
                  0,
                  0,
                  std::string(type.name),
                  type.size,
                  type.align,
                  type.schema_hash,
                  slot,
                  subscriber->mode()};
    auto topic =
        std::make_unique<Topic>(Topic{std::move(subscriber).value(), name,
                                      subject_for(options_.nats_domain, name), std::move(meta), 0});
    if (waitset_.size() < max_waitset_size) (void)waitset_.attach(topic->subscriber);
    (void)node_.announce_bridge(name, "export", link_.url());
    spdlog::info("exporting '{}' ({}) as {}", name, type.name, topic->subject);
    say("export " + name);
    topics_.push_back(std::move(topic));
    exported_.insert(name);
    return true;
}

void Exporter::announce() const {
    for (const auto& topic : topics_)
        (void)node_.announce_bridge(topic->name, "export", link_.url());
}

// Sends what the topic has, at most a batch, so that one busy topic cannot starve the
// others. True if anything was taken.
bool Exporter::pump(Topic& topic) {
    constexpr int kBatch = 256;
    int taken = 0;
    for (; taken < kBatch; ++taken) {
        auto sample = topic.subscriber.take();
        if (!sample || !sample->has_value()) break;
        const RawSample& s = **sample;
        if (own_.contains(topic.name, s.info().publisher_id)) {
            Stats::add(stats_.not_reexported);  // came from NATS: never back out
            continue;
        }
        const auto data = s.data();
        natsMsg* msg = nullptr;
        if (natsMsg_Create(&msg, topic.subject.c_str(), nullptr,
                           reinterpret_cast<const char*>(data.data()),
                           static_cast<int>(data.size())) != NATS_OK) {
            Stats::add(stats_.local_lost);  // taken, and out of memory for it: lost, counted
            continue;
        }
        if (s.overwritten()) {  // overwrite mode: the copy may be torn; it is lost
            natsMsg_Destroy(msg);
            Stats::add(stats_.local_lost);
            continue;
        }
        topic.meta.sequence = s.sequence();
        topic.meta.publisher = s.info().publisher_id;
        topic.meta.timestamp_ns = s.info().timestamp_ns;
        if (write_metadata(msg, topic.meta, topic.name, link_.jetstream() != nullptr) != NATS_OK) {
            natsMsg_Destroy(msg);
            Stats::add(stats_.local_lost);
            continue;
        }
        ++topic.meta.link_sequence;  // every message sent from here on is accounted for
        send(msg);
    }
    const std::uint64_t lost = topic.subscriber.lost();
    Stats::add(stats_.local_lost, lost - topic.lost_seen);
    topic.lost_seen = lost;
    return taken > 0;
}

// Hands one message to NATS. Core NATS: written to the connection (at most once).
// JetStream: stored in the stream, acknowledged (at least once: after a lost
// acknowledgement the message is sent again, and the stream drops it by its Nats-Msg-Id).
Exporter::Sent Exporter::publish(natsMsg* msg) {
    natsStatus s = NATS_OK;
    if (link_.jetstream() == nullptr) {
        s = natsConnection_PublishMsg(link_.connection(), msg);
    } else {
        jsPubOptions options;
        jsPubOptions_Init(&options);
        options.MaxWait = 1000;  // ms: then keep it and try again, in order
        jsPubAck* ack = nullptr;
        jsErrCode code{};
        s = js_PublishMsg(&ack, link_.jetstream(), msg, &options, &code);
        if (s == NATS_OK) {
            if (ack->Duplicate) Stats::add(stats_.deduplicated);
            jsPubAck_Destroy(ack);
        }
    }
    if (s == NATS_OK) {
        natsMsg_Destroy(msg);
        Stats::add(stats_.exported);
        return Sent::done;
    }
    if (s == NATS_MAX_PAYLOAD || s == NATS_INVALID_ARG) {
        // Will never go: larger than the server takes. Dropped and counted (the far side
        // sees the gap too), rather than left to hold up every message behind it.
        if (Stats::get(stats_.refused_by_nats) == 0) {
            spdlog::warn("'{}': message of {} bytes refused by NATS: {}", natsMsg_GetSubject(msg),
                         natsMsg_GetDataLength(msg), natsStatus_GetText(s));
        }
        natsMsg_Destroy(msg);
        Stats::add(stats_.refused_by_nats);
        return Sent::done;
    }
    return Sent::later;
}

void Exporter::send(natsMsg* msg) {
    if (!buffer_.empty() && link_.connected()) flush_buffer();
    if (buffer_.empty() && link_.connected() && publish(msg) == Sent::done) return;
    buffer(msg);
}

void Exporter::buffer(natsMsg* msg) {
    buffer_.push_back(msg);
    buffer_bytes_ += static_cast<std::size_t>(natsMsg_GetDataLength(msg));
    while (buffer_.size() > options_.buffer_messages || buffer_bytes_ > options_.buffer_bytes) {
        buffer_bytes_ -= static_cast<std::size_t>(natsMsg_GetDataLength(buffer_.front()));
        natsMsg_Destroy(buffer_.front());
        buffer_.pop_front();
        Stats::add(stats_.buffer_dropped);
    }
    stats_.buffered.store(buffer_.size(), std::memory_order_relaxed);
}

void Exporter::flush_buffer() {
    while (!buffer_.empty() && link_.connected()) {
        natsMsg* msg = buffer_.front();
        const auto bytes = static_cast<std::size_t>(natsMsg_GetDataLength(msg));
        if (publish(msg) == Sent::later) break;
        buffer_bytes_ -= bytes;
        buffer_.pop_front();
    }
    stats_.buffered.store(buffer_.size(), std::memory_order_relaxed);
}

// Caught up: what the client library still buffers goes out now, rather than when its
// flusher gets round to it (which adds about half a millisecond of latency). While busy
// we never do this, so batches stay large.
void Exporter::push_out() {
    const std::uint64_t sent = Stats::get(stats_.exported);
    if (sent == pushed_ || !link_.connected() || link_.jetstream() != nullptr) return;
    pushed_ = sent;
    (void)natsConnection_FlushTimeout(link_.connection(), 100);
}

// Sleeps until a topic has data (or 50 ms, to look for new topics and the connection).
void Exporter::wait_for_messages() {
    constexpr auto kIdle = std::chrono::milliseconds(50);
    if (topics_.empty() || topics_.size() > waitset_.size()) {
        // Beyond one WaitSet's reach: a short nap, so that no topic waits long.
        std::this_thread::sleep_for(topics_.empty() ? kIdle : std::chrono::milliseconds(1));
        return;
    }
    (void)waitset_.wait(kIdle);
}

void Exporter::run(const std::atomic<bool>& stop, const std::function<void()>& tick) {
    auto next_tick = std::chrono::steady_clock::now() + options_.report_every;
    while (!stop.load(std::memory_order_relaxed)) {
        bool busy = false;
        for (auto& topic : topics_) busy = pump(*topic) || busy;
        if (!buffer_.empty() && link_.connected()) flush_buffer();
        if (!busy) {
            push_out();
            adopt_new_topics();
            wait_for_messages();
        }
        if (std::chrono::steady_clock::now() >= next_tick) {
            tick();
            next_tick = std::chrono::steady_clock::now() + options_.report_every;
        }
    }
    // Stopping: what local publishers had published by now still goes out (for at most a
    // second, in case they keep publishing).
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    bool busy = true;
    while (busy && std::chrono::steady_clock::now() < give_up) {
        busy = false;
        for (auto& topic : topics_) busy = pump(*topic) || busy;
    }
    if (link_.connected()) flush_buffer();
}

}  // namespace ipcbus::bridge
