// SPDX-License-Identifier: Apache-2.0
// The ipcbusd wire protocol: one JSON object per SOCK_SEQPACKET message (at most
// kMaxMessageSize bytes); replies and events may carry memfds (SCM_RIGHTS, at most
// kMaxPassedFds).
//
//   request  {"v":2, "op":"hello"}                      reply {"ok":true, "daemon_pid":P,
//            "domain":..., "protocol":2, "version":"0.3.0", "uid":U}  + the domain segment
//            (read-only: the clock)
//   request  {"v":2, "op":"open", "topic":"a/b", "role":"publisher"|"subscriber",
//             "type":{"name":..., "size":N, "align":N, "schema":N},
//             "capacity":N, "slot_size":N, "max_readers":N,
//             "mode":"overwrite"|"reliable"|"any", ["max_publishers":N],
//             ["history_depth":N], ["pool_threshold":N], ["unblock_timeout_ms":N],
//             ["exclusive_ok":bool] (publishers), ["group":"name"], ["history":N]}
//   reply    publisher: {"ok":true, "handle":H, "index":ID, "entry":E, "created":bool,
//                        "exclusive":"granted"|"revoking"|"shared"}  + the topic segment
//            subscriber: {"ok":true, "handle":H, "index":R, "generation":G, "created":bool,
//                         ["group_entry":GR]}  + the topic segment (read-only), the reader's own
//                         segment, and for a group member its group's segment
//            subscriber of a topic that does not exist yet: {"ok":true, "handle":H,
//                         "waiting":true}, no segment; when a publisher creates the topic,
//                         before that publisher's reply, an event
//                         {"ok":true, "event":"attached", "handle":H, <the subscriber reply's
//                         fields>} + its segments, or {"ok":true, "event":"attach_failed",
//                         "handle":H, "code":..., "error":...} (another type or parameters)
//            (ID: the publisher id in busy stamps; E: its publisher-table entry; R, GR:
//            roster entries of the reader and its group)
//   request  {"v":2, "op":"roster", "handle":H}          reply {"ok":true}
//            (a publisher asks for its readers: the daemon sends an event per reader and
//            group segment now, and one for each that comes later:
//            {"event":"reader", "handle":H, "index":R, "generation":G}  + the segment,
//            read-only)
//   event    {"event":"revoke", "handle":H}  a second publisher arrived: the lone
//            publisher must give up its exclusive fast path (publisher.cpp)
//   event    {"ok":true, "event":"matched", "handle":H, "subscribers":S, "publishers":P}
//            to every handle of a topic whose tables now show another number of readers
//            (S, group members each) or publishers (P): an open, adopt, close or death
//            changed them. Best effort (not sent to a client whose socket is full); the
//            client counts from the tables itself (matched_tracker.hpp)
//   request  {"v":2, "op":"adopt", <the open fields>, "index":I, ...}  + the segments
//            reply {"ok":true, "handle":H, ...}: a client re-registers a topic it held
//            under a previous daemon (after a restart), handing over the segments themselves
//   request  {"v":1, "op":"close", "handle":H}          reply {"ok":true}
//   request  {"v":1, "op":"list", ["after":"name"]}     reply {"ok":true, "topics":[...],
//                                                               ["next":"name"]}
//            (one page in name order; "next": ask again with "after" set to it)
//   request  {"v":1, "op":"hello", "name":"..."}        reply {"ok":true, "daemon_pid":P}
//   request  {"v":1, "op":"watch", "pattern":"a/*/c"}   reply {"ok":true, "topics":[...]}
//            then, for each matching topic created later, an event on the same
//            connection: {"ok":true, "event":"created", "topic":"...", "type":"..."}
//   request  {"v":1, "op":"bridge", "topic":"a/b", "direction":"export"|"import",
//             "remote":"nats://..."}                    reply {"ok":true}
//            (ipcbus-bridge says it carries the topic to or from another host; the mark
//            lasts as long as the connection and shows in "list")
//   request  {"v":1, "op":"sync"}                       reply {"ok":true}
//            (answered after every event already pending at the daemon is handled, e.g.
//            the disconnect of a process the caller has just reaped)
//   any error reply: {"ok":false, "code":"<ErrorCode name>", "error":"<sentence>"}
//
// Every field is checked for presence, type and range before use: the peer may be
// anything that can connect to the socket.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ipcbus/result.hpp"
#include "ipcbus/topic.hpp"
#include "segment_format.hpp"

namespace ipcbus::detail::protocol {

inline constexpr int kVersion = 2;

enum class Role : std::uint8_t { publisher, subscriber };
std::string_view to_string(Role role) noexcept;

/// A parsed "open" request; string views point into `storage`.
struct OpenRequest {
    std::string topic;
    std::string type_name;
    TypeInfo type{};
    TopicOptions options{};
    ReaderOptions reader{};
    Role role = Role::subscriber;
    bool exclusive_ok = false;  // a publisher that can take the exclusive fast path

    [[nodiscard]] TopicRequest as_topic_request() const {
        TopicRequest r{topic, type, options, reader};
        r.type.name = type_name;
        return r;
    }
};

/// A parsed "bridge" request.
struct BridgeMark {
    std::string topic;
    std::string direction;  // "export" or "import"
    std::string remote;     // printable, at most kMaxRemoteLength characters
};
inline constexpr std::size_t kMaxRemoteLength = 200;

nlohmann::json make_open(const TopicRequest& request, Role role);
nlohmann::json make_bridge(const BridgeMark& mark);
nlohmann::json make_close(std::uint64_t handle);
nlohmann::json make_simple(std::string_view op);

/// How an error reply that asks to retry starts: a restarted daemon waiting for a topic's
/// holders to re-register before anyone may create it anew.
inline constexpr std::string_view kRecovering = "daemon recovering after a restart: ";

nlohmann::json make_error(const Error& error);
nlohmann::json make_ok();

/// Parses a message into a JSON object with a supported version and a string "op".
Result<nlohmann::json> parse_request(std::string_view message);
/// Extracts an open request's fields (names validated, numbers in range).
Result<OpenRequest> parse_open(const nlohmann::json& request);
/// Extracts a bridge request's fields (topic validated, direction known, remote printable).
Result<BridgeMark> parse_bridge(const nlohmann::json& request);
/// Reads an unsigned integer field; error names the field.
Result<std::uint64_t> get_uint(const nlohmann::json& object, const char* field,
                               std::uint64_t max = UINT64_MAX);

/// Parses a reply; {"ok":false,...} becomes the Error it carries.
Result<nlohmann::json> parse_reply(std::string_view message);

ErrorCode error_code_from(std::string_view name) noexcept;

}  // namespace ipcbus::detail::protocol
