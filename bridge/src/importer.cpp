// SPDX-License-Identifier: Apache-2.0
#include "importer.hpp"

#include <spdlog/spdlog.h>

#include <cstring>

#include "ipcbusd/access_policy.hpp"
#include "subject.hpp"

namespace ipcbus::bridge {

Importer::Importer(const Node& node, NatsLink& link, OwnPublishers& own, Stats& stats,
                   ImportOptions options)
    : node_(node), link_(link), own_(own), stats_(stats), options_(std::move(options)) {}

Importer::~Importer() {
    stop();
}

Result<Ok> Importer::start() {
    for (const auto& pattern : options_.patterns) {
        if (auto ok = ipcbusd::validate_pattern(pattern); !ok) return std::move(ok).error();
    }
    for (const auto& subject : subscriptions_for(options_.nats_domain, options_.patterns)) {
        natsSubscription* sub = nullptr;
        natsStatus s = link_.jetstream() != nullptr
                           ? subscribe_durable(subject, &sub)
                           : natsConnection_Subscribe(&sub, link_.connection(), subject.c_str(),
                                                      &on_message, this);
        if (s != NATS_OK) return nats_error("subscribing to " + subject, s);
        subscriptions_.push_back(sub);
        s = natsSubscription_SetPendingLimits(sub, options_.pending_messages,
                                              options_.pending_bytes);
        if (s != NATS_OK) return nats_error("limits of " + subject, s);
        spdlog::info("importing {}", subject);
    }
    // The server has our subscriptions once it answered a ping sent after them.
    if (link_.connected()) (void)natsConnection_FlushTimeout(link_.connection(), 5000);
    return Ok{};
}

// JetStream: a durable consumer per subject and host, so that a host that was down
// resumes where it stopped. We create it ourselves and bind to it: a consumer that
// js_Subscribe creates is deleted when the subscription is drained, and we drain at
// exit. The library acknowledges each message when on_message returns, that is, once it
// is published here (or deliberately dropped).
natsStatus Importer::subscribe_durable(const std::string& subject, natsSubscription** sub) {
    const std::string durable =
        "ipcbus_" + std::to_string(detail::fnv1a(options_.origin + "|" + subject));
    const std::string deliver = "_ipcbus_deliver." + durable;
    jsConsumerConfig config;
    jsConsumerConfig_Init(&config);
    config.Durable = durable.c_str();
    config.DeliverSubject = deliver.c_str();
    config.FilterSubject = subject.c_str();
    config.DeliverPolicy = js_DeliverAll;
    config.AckPolicy = js_AckExplicit;
    config.MaxAckPending = options_.pending_messages;
    jsConsumerInfo* info = nullptr;
    jsErrCode code{};
    natsStatus s =
        js_AddConsumer(&info, link_.jetstream(), link_.stream().c_str(), &config, nullptr, &code);
    if (s != NATS_OK) return s;  // also when it exists with another configuration
    jsConsumerInfo_Destroy(info);
    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = link_.stream().c_str();
    options.Consumer = durable.c_str();
    return js_Subscribe(sub, link_.jetstream(), subject.c_str(), &on_message, this, nullptr,
                        &options, &code);
}

// Drains: the client library stops delivering and waits until every callback already
// under way has returned, so nothing calls into us once this returns.
void Importer::stop() {
    for (natsSubscription* sub : subscriptions_) (void)natsSubscription_Drain(sub);
    for (natsSubscription* sub : subscriptions_) {
        if (natsSubscription_WaitForDrainCompletion(sub, 5000) != NATS_OK) {
            // Disconnected, or stuck: stop deliveries the hard way before we go away.
            natsSubscription_Unsubscribe(sub);
        }
        natsSubscription_Destroy(sub);
    }
    subscriptions_.clear();
}

void Importer::announce() {
    const std::lock_guard lock(mutex_);
    for (const auto& [name, topic] : topics_) {
        if (topic.publisher) (void)node_.announce_bridge(name, "import", link_.url());
    }
}

void Importer::on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* self) {
    static_cast<Importer*>(self)->handle(msg);
    natsMsg_Destroy(msg);
}

void Importer::garbage(const char* subject, const std::string& why) {
    Stats::add(stats_.garbage);
    // Logged, but not without bound: a flood of garbage must not fill the disk.
    if (garbage_logged_++ < 100) spdlog::warn("dropped message on '{}': {}", subject, why);
}

// Anyone can publish on NATS, so the routes (and the topics they lead to) are bounded: a
// flood of made-up subjects must not grow the bridge without limit.
constexpr std::size_t kMaxRoutes = 4096;

// The route of a subject; null for garbage, and for a subject no pattern wants (which a
// wider NATS subscription lets through), which is not cached either.
Importer::Route* Importer::route_for(const char* subject) {
    if (const auto it = routes_.find(subject); it != routes_.end()) return &it->second;
    auto topic = topic_for(options_.nats_domain, subject);
    if (!topic) {
        garbage(subject, topic.error().message);
        return nullptr;
    }
    bool wanted = false;
    for (const auto& pattern : options_.patterns) {
        wanted = wanted || ipcbusd::topic_matches(pattern, *topic);
    }
    if (!wanted) return nullptr;
    if (routes_.size() >= kMaxRoutes) {
        garbage(subject, "more than " + std::to_string(kMaxRoutes) + " subjects imported");
        return nullptr;
    }
    Route route{*topic, &topics_[*topic], {}};
    return &routes_.emplace(subject, std::move(route)).first->second;
}

void Importer::handle(natsMsg* msg) {
    const char* subject = natsMsg_GetSubject(msg);
    auto meta = read_metadata(msg);
    const auto size = static_cast<std::size_t>(natsMsg_GetDataLength(msg));
    LocalTopic* local = nullptr;
    RawPublisher* publisher = nullptr;
    {
        const std::lock_guard lock(mutex_);
        if (!meta) return garbage(subject, meta.error().message);
        if (meta->origin == options_.origin) {
            Stats::add(stats_.echoes);  // ours, back from NATS: never re-import
            return;
        }
        Route* route = route_for(subject);
        if (route == nullptr) return;
        if (size > meta->slot_size) return garbage(subject, "payload larger than its slot size");
        if (!accept_sequence(*route, *meta)) return;
        publisher = local_publisher(*route, *meta);
        if (publisher == nullptr) {
            Stats::add(stats_.refused);
            return;
        }
        local = route->local;
    }
    // Not under mutex_: a loan may wait (a reliable topic full here), and other topics
    // must not wait with it.
    const std::lock_guard publishing(local->publishing);
    auto loan = publisher->loan(size);
    if (!loan) {
        Stats::add(stats_.refused);
        if (refusals_logged_.fetch_add(1, std::memory_order_relaxed) < 100) {  // bounded log
            spdlog::warn("'{}': message of {} bytes dropped: {}", publisher->topic(), size,
                         to_string(loan.error()));
        }
        return;
    }
    if (size > 0) std::memcpy(loan->data().data(), natsMsg_GetData(msg), size);
    loan->set_origin_sequence(meta->sequence);
    if (auto published = publisher->publish(std::move(*loan)); !published) {
        Stats::add(stats_.refused);
        if (refusals_logged_.fetch_add(1, std::memory_order_relaxed) < 100) {  // bounded log
            spdlog::warn("'{}': message of {} bytes dropped: {}", publisher->topic(), size,
                         to_string(published.error()));
        }
        return;
    }
    Stats::add(stats_.imported);
}

// Exactly once per exporter run: a repeat is dropped, a jump counts the messages missed.
bool Importer::accept_sequence(Route& route, const Metadata& meta) {
    constexpr std::size_t kMaxRunsPerRoute = 64;
    const auto key = std::make_pair(meta.origin, meta.link);
    auto it = route.expected.find(key);
    if (it == route.expected.end()) {
        if (route.expected.size() >= kMaxRunsPerRoute) {
            route.expected.erase(std::min_element(route.expected.begin(), route.expected.end(),
                                                  [](const auto& a, const auto& b) {
                                                      return a.second.last_use < b.second.last_use;
                                                  }));
        }
        it = route.expected.emplace(key, Expected{meta.link_sequence, 0}).first;
    }
    Expected& expected = it->second;
    expected.last_use = ++uses_;
    if (meta.link_sequence < expected.next) {
        Stats::add(stats_.duplicates);
        return false;
    }
    Stats::add(stats_.gaps, meta.link_sequence - expected.next);
    expected.next = meta.link_sequence + 1;
    return true;
}

// The local publisher of `topic`, opened on first use with the sender's type; null while
// the topic refuses it (retried every few seconds: the conflicting topic may go away).
RawPublisher* Importer::local_publisher(Route& route, const Metadata& meta) {
    const std::string& topic = route.topic;
    LocalTopic& local = *route.local;
    if (local.publisher) return &*local.publisher;
    const auto now = std::chrono::steady_clock::now();
    if (!local.refusal.empty() && now < local.retry_at) return nullptr;
    // Create it as the origin has it; if it exists here already, accept its parameters
    // (the type must still match).
    auto publisher =
        RawPublisher::create(node_, topic, {0, meta.slot_size, 0, meta.mode}, meta.type());
    if (!publisher && publisher.error().code == ErrorCode::parameter_mismatch) {
        publisher = RawPublisher::create(node_, topic, {}, meta.type());
    }
    if (!publisher) {
        local.refusal = publisher.error().message;
        local.retry_at = now + std::chrono::seconds(5);
        spdlog::error("import of '{}' refused here: {}", topic, local.refusal);
        say("refused " + topic + ": " + local.refusal);
        return nullptr;
    }
    local.publisher = std::move(publisher).value();
    local.publisher->set_block_timeout(options_.block_timeout);
    own_.add(topic, local.publisher->id());
    (void)node_.announce_bridge(topic, "import", link_.url());
    spdlog::info("importing into '{}' ({})", topic, meta.type_name);
    say("import " + topic);
    return &*local.publisher;
}

}  // namespace ipcbus::bridge
