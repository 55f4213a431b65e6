// SPDX-License-Identifier: Apache-2.0
#include "ipcbus/watcher.hpp"

#include <poll.h>

#include <set>

#include "clock.hpp"
#include "daemon_endpoint.hpp"
#include "ipc/unix_socket.hpp"
#include "protocol.hpp"

namespace ipcbus {
namespace detail {

struct WatcherImpl {
    std::string domain;
    std::string pattern;
    UniqueFd socket;
    std::set<std::string> seen;        // every name reported, so none is reported twice
    std::vector<std::string> pending;  // reported by the daemon, not yet handed out

    // (Re)connects and asks the daemon to watch; the reply lists the current matches.
    Result<Ok> start() {
        auto fd = connect_to_daemon(domain);
        if (!fd && fd.error().code != ErrorCode::daemon_unreachable) return std::move(fd).error();
        if (!fd) {
            return Error{ErrorCode::daemon_unreachable,
                         "daemon not reachable for domain '" + domain + "': " + fd.error().message};
        }
        socket = std::move(fd).value();
        nlohmann::json request = protocol::make_simple("watch");
        request["pattern"] = pattern;
        if (const int err = send_message(socket.get(), request.dump()); err != 0) {
            return Error{ErrorCode::daemon_unreachable, "watch: connection lost"};
        }
        auto reply = receive();
        if (!reply) return std::move(reply).error();
        add_names(*reply, "topics");
        return Ok{};
    }

    Result<nlohmann::json> receive() {
        std::string message;
        std::vector<UniqueFd> unused;
        if (recv_message(socket.get(), message, unused) != RecvStatus::message) {
            socket.reset();
            return Error{ErrorCode::daemon_unreachable,
                         "watch '" + pattern + "': connection to the daemon lost"};
        }
        return protocol::parse_reply(message);
    }

    void add_names(const nlohmann::json& body, const char* field) {
        const auto it = body.find(field);
        if (it == body.end()) return;
        auto add = [&](const nlohmann::json& name) {
            if (name.is_string() && seen.insert(name.get<std::string>()).second) {
                pending.push_back(name.get<std::string>());
            }
        };
        if (it->is_array()) {
            for (const auto& name : *it) add(name);
        } else {
            add(*it);
        }
    }

    // Reads every event already queued on the socket, without blocking.
    Result<Ok> drain(int timeout_ms) {
        if (!socket.valid()) {
            // The daemon went away: watch again once it is back (names already reported
            // are not reported twice).
            if (auto ok = start(); !ok) return ok;
        }
        for (;;) {
            pollfd p{socket.get(), POLLIN, 0};
            const int ready = ::poll(&p, 1, timeout_ms);
            if (ready <= 0) return Ok{};
            auto event = receive();
            if (!event)
                return event.error().code == ErrorCode::daemon_unreachable && !pending.empty()
                           ? Result<Ok>(Ok{})
                           : Result<Ok>(std::move(event).error());
            add_names(*event, "topic");
            timeout_ms = 0;
        }
    }

    std::vector<std::string> take_pending() { return std::exchange(pending, {}); }
};

}  // namespace detail

Result<TopicWatcher> TopicWatcher::create(const Node& node, std::string_view pattern) {
    auto impl = std::make_unique<detail::WatcherImpl>();
    impl->domain = node.domain();
    impl->pattern = std::string(pattern);
    if (auto ok = impl->start(); !ok) return std::move(ok).error();
    return TopicWatcher(std::move(impl));
}

TopicWatcher::TopicWatcher(std::unique_ptr<detail::WatcherImpl> impl) noexcept
    : impl_(std::move(impl)) {}
TopicWatcher::TopicWatcher(TopicWatcher&&) noexcept = default;
TopicWatcher& TopicWatcher::operator=(TopicWatcher&&) noexcept = default;
TopicWatcher::~TopicWatcher() = default;

Result<std::vector<std::string>> TopicWatcher::poll() {
    return wait(std::chrono::milliseconds(0));
}

Result<std::vector<std::string>> TopicWatcher::wait(std::chrono::milliseconds timeout) {
    const std::uint64_t deadline =
        detail::monotonic_ns() + static_cast<std::uint64_t>(timeout.count()) * 1'000'000ULL;
    for (;;) {
        const std::uint64_t now = detail::monotonic_ns();
        const int left_ms = impl_->pending.empty() && now < deadline
                                ? static_cast<int>((deadline - now + 999'999) / 1'000'000)
                                : 0;
        if (auto ok = impl_->drain(left_ms); !ok) return std::move(ok).error();
        if (!impl_->pending.empty() || detail::monotonic_ns() >= deadline) {
            return impl_->take_pending();
        }
    }
}

int TopicWatcher::fd() const noexcept {
    return impl_->socket.get();
}
const std::string& TopicWatcher::pattern() const noexcept {
    return impl_->pattern;
}

}  // namespace ipcbus
