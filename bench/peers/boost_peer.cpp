// SPDX-License-Identifier: Apache-2.0
// ipcbus_peer_boost: Boost.Interprocess message_queue in the comparison table
// (scripts/bench.sh). Two queues (ping, pong) of `slots` messages of the payload size in
// POSIX shared memory; send() copies the payload in and receive() copies it out, both
// blocking on the queue's process-shared mutex and condition variables. See
// ../compare.hpp for the runs.

#include <boost/interprocess/ipc/message_queue.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compare.hpp"

namespace {

using namespace bench;           // NOLINT(google-build-using-namespace)
using namespace bench::compare;  // NOLINT(google-build-using-namespace)
namespace bip = boost::interprocess;

std::string queue_name(const std::string& tag, bool ping) {
    return std::string("ipcbus-bench-mq-") + (ping ? "ping-" : "pong-") + tag;
}

class BoostLink {
  public:
    explicit BoostLink(const Endpoint& ep)
        : c_(ep.c),
          buffer_(ep.c.size),
          out_(open(ep, ep.role == Role::a)),
          in_(open(ep, ep.role != Role::a)) {}

    void sync() {}

    void send(std::uint64_t k) {
        fill_payload(buffer_, k, c_.touch);
        out_->send(buffer_.data(), buffer_.size(), 0);
    }

    void receive(std::uint64_t k) {
        bip::message_queue::size_type got = 0;
        unsigned priority = 0;
        in_->receive(buffer_.data(), buffer_.size(), got, priority);
        expect_payload(std::span<const std::byte>(buffer_.data(), got), c_.size, k, c_.touch,
                       "boost message_queue");
    }

  private:
    static std::unique_ptr<bip::message_queue> open(const Endpoint& ep, bool ping) {
        return std::make_unique<bip::message_queue>(
            bip::open_or_create, queue_name(ep.tag, ping).c_str(), ep.c.slots, ep.c.size);
    }

    Case c_;
    std::vector<std::byte> buffer_;
    std::unique_ptr<bip::message_queue> out_;
    std::unique_ptr<bip::message_queue> in_;
};

}  // namespace

int main(int argc, char** argv) {
    std::vector<System> systems;
    systems.push_back({"boost_mq",
                       "Boost.Interprocess message_queue",
                       1,
                       [](Endpoint& ep) {
                           BoostLink link(ep);
                           drive(link, ep);
                       },
                       {},
                       [](const std::string& tag) {
                           bip::message_queue::remove(queue_name(tag, true).c_str());
                           bip::message_queue::remove(queue_name(tag, false).c_str());
                       }});
    return compare_main(argc, argv, systems);
}
