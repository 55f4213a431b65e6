// SPDX-License-Identifier: Apache-2.0
// The daemon's state, shared by its parts (one file each, docs/ARCHITECTURE.md "The
// daemon as parts"):
//   daemon.cpp      the event loop: connections, requests, replies, timers
//   topics.cpp      the registry: finding and creating topics, handles, closing, watching
//   roster.cpp      readers and consumer groups: roster entries, their segments, orphans
//   publishers.cpp  publisher entries, the exclusive fast path, dead and stalled claims
//   adoption.cpp    rebuilding the registry from clients after a restart
//   describe.cpp    what "list" answers
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "clock.hpp"
#include "endpoints.hpp"
#include "ipc/memfd_segment.hpp"
#include "ipc/unix_socket.hpp"
#include "ipcbusd/daemon.hpp"
#include "protocol.hpp"
#include "recovery.hpp"

namespace ipcbusd {

namespace detail = ipcbus::detail;
namespace protocol = ipcbus::detail::protocol;
namespace layout = ipcbus::layout;
using ipcbus::Error;
using ipcbus::ErrorCode;
using ipcbus::Ok;
using ipcbus::Result;
using nlohmann::json;
using Fds = std::vector<detail::UniqueFd>;

struct Client {
    detail::UniqueFd socket;
    detail::PeerCredentials cred;
    std::vector<gid_t> groups;  // primary gid first, then supplementary ones
    std::set<std::uint64_t> handles{};
    std::vector<std::string> watches;  // patterns this (watcher) connection asked for
    // Topics this client (ipcbus-bridge) carries to or from another host, by (topic,
    // direction); the value is the remote end. Shown in "list"; gone with the connection.
    std::map<std::pair<std::string, std::string>, std::string> bridges;
};

// A consumer group of a topic: its roster entry (holding the shared cursor in its
// segment) and how many members it has; the group ends with its last member.
struct Group {
    std::uint32_t entry;
    std::uint32_t members;
};

// A publisher's claim as the stall scan last saw it.
struct ClaimSeen {
    std::uint64_t claiming = layout::kNotClaiming;
    std::chrono::steady_clock::time_point since{};
    bool resolved = false;
};

struct Topic {
    std::string name;
    std::string type_name;
    detail::TopicSegment segment;
    pid_t creator_pid = 0;
    uid_t creator_uid = 0;
    std::set<std::uint64_t> handles{};
    detail::UniqueFd read_only;  // what subscribers get of the topic segment
    // False only for a topic re-adopted (after a restart) from subscribers alone, who hold
    // it read-only; a publisher's adoption upgrades it.
    bool writable = true;
    std::map<std::string, Group, std::less<>> groups{};
    // The segment of each roster entry (reader, member or group), by index.
    std::vector<std::optional<detail::SharedMemory>> roster_segments{};
    // Stall scan: the claims of publisher entries, by entry index.
    std::map<std::uint32_t, ClaimSeen> claims{};
    // Holes (sequences claimed, never marked) seen by the scan, and since when.
    std::map<std::uint64_t, std::chrono::steady_clock::time_point> holes{};
    // A publisher died while taking a ticket: it may have left a hole somewhere.
    std::optional<std::chrono::steady_clock::time_point> holes_suspected_since{};
    // Roster entries of readers that left while the topic was read-only to the daemon.
    std::vector<std::uint32_t> frees_when_writable{};
    // Readers and publishers the tables showed when handles were last told (tell_matched).
    std::size_t matched_readers = 0;
    std::size_t matched_publishers = 0;
};

struct Handle {
    int client;  // socket fd: the key of clients
    std::string topic;
    protocol::Role role;
    std::uint32_t index;         // publisher id, or roster entry
    std::uint32_t entry = 0;     // publisher: its publisher-table entry
    std::string group;           // a subscriber's consumer group, if any
    bool exclusive_ok = false;   // publisher: may take the exclusive fast path
    bool roster_events = false;  // publisher: asked for its readers' segments
    // A subscriber whose topic does not exist yet: no roster entry; `request` is what it
    // asked for, checked against the topic when a publisher creates it (attach_waiting).
    bool waiting = false;
    std::optional<protocol::OpenRequest> request{};
};

struct Daemon::State {
    DaemonOptions options;
    Endpoints endpoints;
    TopicLedger ledger;  // the recovery window after a restart
    detail::UniqueFd epoll;
    detail::UniqueFd stop_event;
    std::map<int, Client> clients;
    std::map<std::string, Topic, std::less<>> topics;
    std::map<std::uint64_t, Handle> handles;
    // Subscribers waiting for a topic nobody has created yet, by topic name.
    std::map<std::string, std::set<std::uint64_t>, std::less<>> waiting;
    std::uint64_t next_handle = 1;
    std::uint64_t total_bytes = 0;
    bool draining = false;
    // Connections to close once the current event is handled (never in the middle of
    // serving one: the handler may hold a reference to that very client).
    std::vector<int> doomed;
    // The domain segment: the clock every client converts timestamps with.
    detail::SharedMemory domain_segment = detail::SharedMemory::empty();
    detail::UniqueFd domain_read_only;
    std::optional<detail::TscCalibrator> calibrator;

    // daemon.cpp: the event loop
    void accept_clients(int listener);
    std::string admission_refusal(const detail::PeerCredentials& cred) const;
    void record_topics();
    void drain_pending(int requester);
    void serve(int fd);
    void disconnect(int fd, const char* why);
    json dispatch(Client& client, int fd, const json& request, Fds received,
                  std::vector<int>& pass_fds);
    int timer_ms();
    void on_timer();
    bool send_event(int fd, const json& event, std::span<const int> fds = {});

    // topics.cpp: the registry
    Result<json> open(Client& client, int fd, const json& request, std::vector<int>& pass_fds);
    Result<Topic*> find_or_create(const Client& client, const protocol::OpenRequest& req,
                                  bool& created);
    std::uint64_t add_handle(Client& client, int fd, Topic& topic, Handle handle);
    Result<json> close(Client& client, const json& request);
    Result<json> wait_for_topic(Client& client, int fd, protocol::OpenRequest req);
    void attach_waiting(Topic& topic);
    void release(std::uint64_t handle, bool owner_died);
    void drop_topic(const std::string& name);
    void drop_if_unused(Topic& topic);
    Result<json> watch(Client& client, const json& request);
    void announce(const Topic& topic);
    void tell_matched(Topic& topic);
    Result<json> mark_bridge(Client& client, const json& request);
    [[nodiscard]] json bridges_of(const std::string& topic) const;
    [[nodiscard]] Result<Ok> check_access(const Client& client,
                                          const protocol::OpenRequest& req) const;

    // roster.cpp: readers and groups
    Result<json> add_subscriber(Client& client, int fd, Topic& topic,
                                const protocol::OpenRequest& req, bool created,
                                std::vector<int>& pass_fds);
    // The roster entry (and group) of a subscriber handle `id` that exists already.
    Result<json> attach_reader(Client& client, Topic& topic, const protocol::OpenRequest& req,
                               std::uint64_t id, std::vector<int>& pass_fds);
    Result<std::uint32_t> claim_entry(Topic& topic, pid_t pid, layout::RosterKind kind,
                                      std::uint32_t group);
    Result<Ok> create_entry_segment(Topic& topic, std::uint32_t index, layout::RosterKind kind);
    void activate_entry(Topic& topic, std::uint32_t index, std::uint32_t history);
    Result<std::uint32_t> join_group(Topic& topic, const std::string& name, std::uint32_t history);
    void free_entry(Topic& topic, std::uint32_t index);
    void remove_reader(Topic& topic, const Handle& handle);
    void orphan_marks(Topic& topic, std::uint32_t member, const std::string& group);
    void leave_group(Topic& topic, const std::string& group);
    Result<json> subscribe_roster(Client& client, const json& request);
    void send_entry_to_publishers(const Topic& topic, std::uint32_t index);
    [[nodiscard]] layout::GroupState* group_state(const Topic& topic, std::uint32_t entry) const;
    [[nodiscard]] layout::ReaderRow* reader_row(const Topic& topic, std::uint32_t entry) const;

    // publishers.cpp: publisher entries, exclusivity, dead and stalled claims
    Result<json> add_publisher(Client& client, int fd, Topic& topic,
                               const protocol::OpenRequest& req, bool created,
                               std::vector<int>& pass_fds);
    Result<std::uint32_t> claim_publisher_entry(Topic& topic, pid_t pid, std::uint32_t id);
    void remove_publisher(Topic& topic, const Handle& handle, bool died);
    void regrant_exclusive(Topic& topic);
    bool try_revoke(Topic& topic);
    [[nodiscard]] std::vector<const Handle*> publishers_of(const Topic& topic) const;
    void scan_stalls(Topic& topic, std::chrono::steady_clock::time_point now);
    [[nodiscard]] bool needs_stall_scan(const Topic& topic) const;

    // adoption.cpp: after a restart
    Result<json> adopt(Client& client, int fd, const json& request, Fds segments);
    Result<Topic*> adopt_topic(const Client& client, const protocol::OpenRequest& req,
                               detail::UniqueFd topic_fd, bool writable);
    void clean_up_after_the_dead(Topic& topic);

    // describe.cpp: "list"
    json list(const Client& client, const json& request) const;
    bool may_see(const Client& client, const std::string& topic) const;
    json describe(const Topic& topic) const;

    [[nodiscard]] bool idle() const { return clients.empty() && topics.empty(); }
};

}  // namespace ipcbusd
