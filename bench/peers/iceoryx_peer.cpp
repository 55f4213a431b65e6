// SPDX-License-Identifier: Apache-2.0
// ipcbus_peer_iceoryx: Eclipse iceoryx 2.0 in the comparison table (scripts/bench.sh).
// Untyped publisher/subscriber on two services (ping, pong): loan() a chunk, write it,
// publish(); the receiver take()s in place by busy-polling (pause, as every harness loop)
// and release()s. Lossless like the other systems: WAIT_FOR_CONSUMER on the publisher,
// BLOCK_PRODUCER on the subscriber, queue capacity = the case's slot count.
// Needs a running iox-roudi whose mempools hold 8 MiB chunks: bench/peers/roudi_config.toml.
// Each side's child registers its own runtime (the parent never does: a runtime does not
// survive fork()). See ../compare.hpp for the runs.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "compare.hpp"
#include "iceoryx_hoofs/log/logmanager.hpp"
#include "iceoryx_posh/mepoo/chunk_header.hpp"
#include "iceoryx_posh/popo/untyped_publisher.hpp"
#include "iceoryx_posh/popo/untyped_subscriber.hpp"
#include "iceoryx_posh/runtime/posh_runtime.hpp"

namespace {

using namespace bench;           // NOLINT(google-build-using-namespace)
using namespace bench::compare;  // NOLINT(google-build-using-namespace)

iox::capro::ServiceDescription service(const Endpoint& ep, bool ping) {
    const std::string instance = "cmp" + ep.tag;
    return {"ipcbus-bench", iox::capro::IdString_t(iox::cxx::TruncateToCapacity, instance.c_str()),
            ping ? "ping" : "pong"};
}

iox::popo::PublisherOptions publisher_options() {
    iox::popo::PublisherOptions options;
    options.subscriberTooSlowPolicy = iox::popo::ConsumerTooSlowPolicy::WAIT_FOR_CONSUMER;
    return options;
}

iox::popo::SubscriberOptions subscriber_options(const Case& c) {
    iox::popo::SubscriberOptions options;
    options.queueCapacity = c.slots;
    options.queueFullPolicy = iox::popo::QueueFullPolicy::BLOCK_PRODUCER;
    return options;
}

class IceoryxLink {
  public:
    explicit IceoryxLink(const Endpoint& ep)
        : c_(ep.c),
          pub_(service(ep, ep.role == Role::a), publisher_options()),
          sub_(service(ep, ep.role != Role::a), subscriber_options(ep.c)) {}

    /// Subscriptions are set up by RouDi asynchronously: wait until both ends are connected.
    void sync() {
        spin_until([&] {
            return pub_.hasSubscribers() &&
                   sub_.getSubscriptionState() == iox::SubscribeState::SUBSCRIBED;
        });
    }

    void send(std::uint64_t k) {
        auto loan = pub_.loan(static_cast<std::uint32_t>(c_.size), alignof(std::uint64_t));
        if (loan.has_error()) fail("iceoryx loan failed (are RouDi's mempools large enough?)");
        void* chunk = loan.value();
        fill_payload({static_cast<std::byte*>(chunk), c_.size}, k, c_.touch);
        pub_.publish(chunk);
    }

    void receive(std::uint64_t k) {
        Waiter waiter(nullptr);
        for (;;) {
            auto taken = sub_.take();
            if (!taken.has_error()) {
                const void* chunk = taken.value();
                const auto size =
                    iox::mepoo::ChunkHeader::fromUserPayload(chunk)->userPayloadSize();
                const std::span<const std::byte> data(static_cast<const std::byte*>(chunk), size);
                const bool ok = data.size() == c_.size && check_payload(data, k, c_.touch);
                sub_.release(chunk);
                if (!ok) expect_payload(data.first(0), c_.size, k, c_.touch, "iceoryx");
                return;
            }
            if (taken.get_error() != iox::popo::ChunkReceiveResult::NO_CHUNK_AVAILABLE) {
                fail("iceoryx take failed (too many chunks held)");
            }
            waiter.pause();
        }
    }

  private:
    Case c_;
    iox::popo::UntypedPublisher pub_;
    iox::popo::UntypedSubscriber sub_;
};

}  // namespace

int main(int argc, char** argv) {
    std::vector<System> systems;
    systems.push_back({"iceoryx",
                       "iceoryx 2.0.3 busy-poll",
                       1,
                       [](Endpoint& ep) {
                           // The runtime logs to stdout, which carries the rows: warnings only.
                           iox::log::LogManager::GetLogManager().SetDefaultLogLevel(
                               iox::log::LogLevel::kWarn);
                           const std::string name = "ipcbus-bench-" + std::to_string(::getpid());
                           iox::runtime::PoshRuntime::initRuntime(
                               iox::RuntimeName_t(iox::cxx::TruncateToCapacity, name.c_str()));
                           {
                               IceoryxLink link(ep);
                               drive(link, ep);
                           }
                       },
                       {},
                       {}});
    return compare_main(argc, argv, systems);
}
