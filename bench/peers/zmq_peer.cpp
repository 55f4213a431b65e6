// SPDX-License-Identifier: Apache-2.0
// ipcbus_peer_zmq: ZeroMQ PAIR sockets over ipc:// in the comparison table
// (scripts/bench.sh). One PAIR socket per side, bidirectional; A binds, B connects.
// zmq_send copies the payload into a message; the receiver gets it with zmq_msg_recv
// (no further copy) and reads it in place; both sides block in the kernel while waiting.
// The high-water marks are the case's slot count, so a stream waits instead of queueing
// gigabytes. See ../compare.hpp for the runs.

#include <zmq.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "compare.hpp"

namespace {

using namespace bench;           // NOLINT(google-build-using-namespace)
using namespace bench::compare;  // NOLINT(google-build-using-namespace)

[[noreturn]] void zmq_fail(const char* what) {
    fail(std::string(what) + ": " + zmq_strerror(zmq_errno()));
}

class ZmqLink {
  public:
    explicit ZmqLink(const Endpoint& ep)
        : c_(ep.c), buffer_(ep.c.size), endpoint_("ipc:///tmp/ipcbus-bench-zmq-" + ep.tag) {
        context_ = zmq_ctx_new();
        if (context_ == nullptr) zmq_fail("zmq_ctx_new");
        socket_ = zmq_socket(context_, ZMQ_PAIR);
        if (socket_ == nullptr) zmq_fail("zmq_socket");
        const int hwm = static_cast<int>(ep.c.slots);
        zmq_setsockopt(socket_, ZMQ_SNDHWM, &hwm, sizeof(hwm));
        zmq_setsockopt(socket_, ZMQ_RCVHWM, &hwm, sizeof(hwm));
        // Closing must not drop the last answer while it is still being written out.
        const int linger = 10'000;  // ms
        zmq_setsockopt(socket_, ZMQ_LINGER, &linger, sizeof(linger));
        // A binds here; B connects in sync(), once A has bound (no reconnect timer).
        if (ep.role == Role::a) {
            if (zmq_bind(socket_, endpoint_.c_str()) != 0) zmq_fail("zmq_bind");
        } else {
            connect_ = true;
        }
        zmq_msg_init(&message_);
    }
    ZmqLink(const ZmqLink&) = delete;
    ZmqLink& operator=(const ZmqLink&) = delete;
    ~ZmqLink() {
        zmq_msg_close(&message_);
        zmq_close(socket_);
        zmq_ctx_term(context_);
    }

    void sync() {
        if (connect_ && zmq_connect(socket_, endpoint_.c_str()) != 0) zmq_fail("zmq_connect");
    }

    void send(std::uint64_t k) {
        fill_payload(buffer_, k, c_.touch);
        while (zmq_send(socket_, buffer_.data(), buffer_.size(), 0) < 0) {
            if (zmq_errno() != EINTR) zmq_fail("zmq_send");
        }
    }

    void receive(std::uint64_t k) {
        while (zmq_msg_recv(&message_, socket_, 0) < 0) {
            if (zmq_errno() != EINTR) zmq_fail("zmq_msg_recv");
        }
        const std::span<const std::byte> data(
            static_cast<const std::byte*>(zmq_msg_data(&message_)), zmq_msg_size(&message_));
        expect_payload(data, c_.size, k, c_.touch, "zmq");
    }

  private:
    Case c_;
    std::vector<std::byte> buffer_;
    std::string endpoint_;
    bool connect_ = false;
    void* context_ = nullptr;
    void* socket_ = nullptr;
    zmq_msg_t message_{};
};

}  // namespace

int main(int argc, char** argv) {
    std::vector<System> systems;
    systems.push_back(
        {"zmq",
         "ZeroMQ PAIR ipc://",
         1,
         [](Endpoint& ep) {
             ZmqLink link(ep);
             drive(link, ep);
         },
         {},
         [](const std::string& tag) { std::remove(("/tmp/ipcbus-bench-zmq-" + tag).c_str()); }});
    return compare_main(argc, argv, systems);
}
