// SPDX-License-Identifier: Apache-2.0
// A Node is a process's handle on one bus domain: its connection to the domain's
// discovery daemon, ipcbusd. The domain is a name that keeps separate buses apart (every
// test uses its own); each domain has one daemon, which the library starts by itself
// when none is running (unless IPCBUS_NO_AUTOSTART=1).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ipcbus/result.hpp"

namespace ipcbus {

namespace detail {
class DaemonClient;
}

struct NodeOptions {
    /// Bus domain: 1-32 characters of [A-Za-z0-9_-]. Empty: $IPCBUS_DOMAIN, else "default".
    std::string domain;
};

/// The domain a Node gets when NodeOptions::domain is empty. Thread-safe.
std::string default_domain();

/// One reader of a topic, as the daemon sees it. Positions and counters are what the
/// reader last published (readers publish them in batches, and whenever they run out of
/// messages or go to sleep).
struct ReaderInfo {
    std::int32_t pid;
    std::uint64_t next_sequence;  // cursor: lag = TopicInfo::published - next_sequence
    std::uint64_t lost;
    std::uint64_t skipped;
    std::string group;  // its consumer group; empty: a plain reader
    std::uint64_t received = 0;
    std::uint32_t held = 0;  // zero-copy samples it holds right now
    bool asleep = false;     // blocked in a wait (else busy-polling or working)
    // Reliable topics and pool topics: no message from here on may be reused yet (the
    // oldest sample it still holds, or its position). The least of all readers' is what
    // holds a reliable publisher back.
    std::uint64_t released = 0;
    std::uint32_t roster_entry = 0;  // its entry in the topic's roster
};

/// One publisher of a topic.
struct PublisherInfo {
    std::int32_t pid;
    std::uint32_t id;         // carried by its messages (SampleInfo::publisher_id)
    std::uint64_t published;  // messages it committed
    std::uint32_t loans;      // loans it holds right now
    std::uint64_t
        blocked_since_ns;  // reliable mode: waiting for space since (CLOCK_MONOTONIC; 0: not)
};

/// A consumer group of a topic.
struct GroupInfo {
    std::string name;
    std::uint32_t members;
    std::uint64_t next_sequence;  // the next message the group hands out
    std::uint64_t lost;           // overwrite mode: messages overrun before any member took them
};

/// A bridge process (ipcbus-bridge) carrying a topic to or from another host.
struct BridgeInfo {
    std::string direction;  // "export": local messages go out; "import": remote ones come in
    std::string remote;     // where to, e.g. "nats://10.0.0.2:4222"
    std::int32_t pid;       // the bridge process
};

/// A topic as the daemon sees it.
struct TopicInfo {
    std::string name;
    std::string type_name;
    std::uint64_t slot_size;
    std::uint32_t capacity;
    std::string mode;
    std::uint32_t publishers;
    std::uint32_t subscribers;
    std::uint64_t published;  // sequences claimed so far
    std::int32_t creator_pid;
    std::vector<ReaderInfo> readers;
    std::vector<GroupInfo> groups;
    std::vector<BridgeInfo> bridges;
    std::vector<PublisherInfo> publisher_details{};
    std::uint32_t history_depth = 0;  // newest messages kept for late joiners
    bool pooled = false;              // payloads in a buffer pool (zero-copy loans)
};

/// The daemon serving a domain, as it describes itself.
struct DaemonInfo {
    std::int32_t pid;        // in the daemon's pid namespace
    std::uint32_t uid;       // the user it runs as
    std::string version;     // ipcbus::version() of its build; "unknown" from one too old to say
    std::uint32_t protocol;  // wire protocol version
};

/// A process's connection to its domain's daemon. Publishers and subscribers keep it alive.
/// Do not use a Node across fork(): in the child it refuses to work (the connection is the
/// parent's) and its destruction leaves the parent's topics alone. A child that needs the
/// bus should exec (a Node keeps a thread, and after forking a multithreaded process POSIX
/// promises only async-signal-safe calls until exec).
class Node {
  public:
    /// Setup: validates the domain and connects to its daemon, starting one if needed.
    /// Thread-safe.
    static Result<Node> create(NodeOptions options = {});

    /// The domain this node works in. Thread-safe.
    [[nodiscard]] const std::string& domain() const noexcept { return domain_; }

    /// Now, on the clock that stamps messages (SampleInfo::timestamp_ns): CLOCK_MONOTONIC
    /// nanoseconds, read from the CPU's time-stamp counter with the domain's calibration
    /// where that is trustworthy. Thread-safe; no system call.
    [[nodiscard]] std::uint64_t now() const noexcept;

    /// Every topic of the domain, with its publishers and readers. Thread-safe.
    [[nodiscard]] Result<std::vector<TopicInfo>> list_topics() const;

    /// Who serves this domain: the daemon's pid, user, version and protocol. Thread-safe.
    [[nodiscard]] Result<DaemonInfo> daemon_info() const;

    /// Problems the connection met on its own since the last call, oldest first, for the
    /// application to act on or log: a daemon refused because it runs as a user this process
    /// does not trust (permission_denied; the node keeps retrying for a trusted one), or a
    /// topic a restarted daemon would not take back (its peers no longer meet this process:
    /// reopen it). At most the last 64 are kept. Thread-safe.
    [[nodiscard]] std::vector<Error> take_problems() const;

    /// For bridges: tells the daemon that this process carries `topic` to ("export") or
    /// from ("import") `remote`, so list_topics() and `ipcbus topics` show it. The mark
    /// lasts while this node is connected (not across a daemon restart: mark again).
    /// Thread-safe.
    Result<Ok> announce_bridge(std::string_view topic, std::string_view direction,
                               std::string_view remote) const;

    /// The connection to the daemon (internal; shared with publishers and subscribers).
    [[nodiscard]] const std::shared_ptr<detail::DaemonClient>& daemon() const noexcept {
        return daemon_;
    }

  private:
    Node(std::string domain, std::shared_ptr<detail::DaemonClient> daemon)
        : domain_(std::move(domain)), daemon_(std::move(daemon)) {}
    std::string domain_;
    std::shared_ptr<detail::DaemonClient> daemon_;
};

}  // namespace ipcbus
