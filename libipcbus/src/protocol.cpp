// SPDX-License-Identifier: Apache-2.0
#include "protocol.hpp"

#include "names.hpp"

namespace ipcbus::detail::protocol {
namespace {

using nlohmann::json;

Error malformed(const std::string& why) {
    return Error{ErrorCode::invalid_argument, "malformed request: " + why};
}

Result<std::string> get_string(const json& object, const char* field, std::size_t max) {
    const auto it = object.find(field);
    if (it == object.end() || !it->is_string()) {
        return malformed(std::string("'") + field + "' must be a string");
    }
    const auto& s = it->get_ref<const std::string&>();
    if (s.size() > max) return malformed(std::string("'") + field + "' is too long");
    return s;
}

// The optional fields of a subscriber's open: its consumer group and history.
Result<ReaderOptions> parse_reader_options(const json& request) {
    ReaderOptions reader;
    if (request.contains("group")) {
        auto group = get_string(request, "group", max_group_name_length + 1);
        if (!group) return group.error();
        if (auto ok = validate_group_name(*group); !ok) return std::move(ok).error();
        reader.group = *group;
    }
    if (request.contains("history")) {
        auto history = get_uint(request, "history", max_capacity);
        if (!history) return history.error();
        reader.history = static_cast<std::uint32_t>(*history);
    }
    return reader;
}

// The topic options a request may leave out (each 0 or absent: the topic's or default),
// and whether a publisher can take the exclusive fast path.
Result<Ok> parse_optional_options(const json& request, OpenRequest& out) {
    auto optional_uint = [&](const char* field, std::uint64_t max) -> Result<std::uint64_t> {
        if (!request.contains(field)) return std::uint64_t{0};
        return get_uint(request, field, max);
    };
    auto publishers = optional_uint("max_publishers", max_publishers_limit);
    if (!publishers) return publishers.error();
    out.options.max_publishers = static_cast<std::uint32_t>(*publishers);
    if (request.contains("history_depth")) {
        auto depth = get_uint(request, "history_depth", max_capacity);
        if (!depth) return depth.error();
        out.options.history_depth = static_cast<std::uint32_t>(*depth);
    }
    auto threshold = optional_uint("pool_threshold", max_slot_size);
    if (!threshold) return threshold.error();
    out.options.pool_threshold = *threshold;
    auto timeout = optional_uint("unblock_timeout_ms", 3'600'000);
    if (!timeout) return timeout.error();
    out.options.unblock_timeout = std::chrono::milliseconds(*timeout);
    if (const auto it = request.find("exclusive_ok"); it != request.end()) {
        if (!it->is_boolean()) return malformed("'exclusive_ok' must be a boolean");
        out.exclusive_ok = it->get<bool>();
    }
    return Ok{};
}

}  // namespace

std::string_view to_string(Role role) noexcept {
    return role == Role::publisher ? "publisher" : "subscriber";
}

json make_open(const TopicRequest& request, Role role) {
    json open{{"v", kVersion},
              {"op", "open"},
              {"topic", request.topic},
              {"role", to_string(role)},
              {"type",
               {{"name", request.type.name},
                {"size", request.type.size},
                {"align", request.type.align},
                {"schema", request.type.schema_hash}}},
              {"capacity", request.options.capacity},
              {"slot_size", request.options.slot_size},
              {"max_readers", request.options.max_readers},
              {"mode", request.options.mode ? ipcbus::to_string(*request.options.mode)
                                            : std::string_view("any")}};
    const TopicOptions& o = request.options;
    if (o.max_publishers != 0) open["max_publishers"] = o.max_publishers;
    if (o.history_depth) open["history_depth"] = *o.history_depth;
    if (o.pool_threshold != 0) open["pool_threshold"] = o.pool_threshold;
    if (o.unblock_timeout.count() > 0) open["unblock_timeout_ms"] = o.unblock_timeout.count();
    if (role == Role::subscriber) {
        if (!request.reader.group.empty()) open["group"] = request.reader.group;
        if (request.reader.history != 0) open["history"] = request.reader.history;
    }
    return open;
}

json make_close(std::uint64_t handle) {
    return json{{"v", kVersion}, {"op", "close"}, {"handle", handle}};
}

json make_simple(std::string_view op) {
    return json{{"v", kVersion}, {"op", op}};
}

json make_error(const Error& error) {
    return json{{"ok", false}, {"code", ipcbus::to_string(error.code)}, {"error", error.message}};
}

json make_ok() {
    return json{{"ok", true}};
}

Result<std::uint64_t> get_uint(const json& object, const char* field, std::uint64_t max) {
    const auto it = object.find(field);
    if (it == object.end() || !it->is_number_unsigned()) {
        return malformed(std::string("'") + field + "' must be a non-negative integer");
    }
    const auto value = it->get<std::uint64_t>();
    if (value > max) return malformed(std::string("'") + field + "' is out of range");
    return value;
}

Result<json> parse_request(std::string_view message) {
    json request = json::parse(message, nullptr, /*allow_exceptions=*/false);
    if (request.is_discarded()) return malformed("not valid JSON");
    if (!request.is_object()) return malformed("not a JSON object");
    const auto version = get_uint(request, "v", 1'000'000);
    if (!version) return version.error();
    if (*version != kVersion) {
        return Error{ErrorCode::version_mismatch, "protocol version " + std::to_string(*version) +
                                                      " not supported (daemon speaks " +
                                                      std::to_string(kVersion) + ")"};
    }
    if (auto op = get_string(request, "op", 32); !op) return op.error();
    return request;
}

json make_bridge(const BridgeMark& mark) {
    return json{{"v", kVersion},
                {"op", "bridge"},
                {"topic", mark.topic},
                {"direction", mark.direction},
                {"remote", mark.remote}};
}

Result<BridgeMark> parse_bridge(const json& request) {
    auto topic = get_string(request, "topic", max_topic_name_length + 1);
    if (!topic) return topic.error();
    if (auto ok = validate_topic_name(*topic); !ok) return ok.error();
    auto direction = get_string(request, "direction", 16);
    if (!direction) return direction.error();
    if (*direction != "export" && *direction != "import") {
        return malformed("'direction' must be \"export\" or \"import\"");
    }
    auto remote = get_string(request, "remote", kMaxRemoteLength);
    if (!remote) return remote.error();
    for (char c : *remote) {
        if (c < 0x20 || c > 0x7e) return malformed("'remote' must be printable ASCII");
    }
    return BridgeMark{*topic, *direction, *remote};
}

Result<OpenRequest> parse_open(const json& request) {
    OpenRequest out;
    auto topic = get_string(request, "topic", max_topic_name_length + 1);
    if (!topic) return topic.error();
    if (auto ok = validate_topic_name(*topic); !ok) return ok.error();
    out.topic = *topic;
    auto role = get_string(request, "role", 16);
    if (!role) return role.error();
    if (*role != "publisher" && *role != "subscriber") {
        return malformed("'role' must be \"publisher\" or \"subscriber\"");
    }
    out.role = *role == "publisher" ? Role::publisher : Role::subscriber;
    const auto type = request.find("type");
    if (type == request.end() || !type->is_object()) return malformed("'type' must be an object");
    auto name = get_string(*type, "name", max_type_name_length);
    auto size = get_uint(*type, "size", max_slot_size);
    auto align = get_uint(*type, "align", 4096);
    auto schema = get_uint(*type, "schema");
    for (const Error* e : {name ? nullptr : &name.error(), size ? nullptr : &size.error(),
                           align ? nullptr : &align.error(), schema ? nullptr : &schema.error()}) {
        if (e != nullptr) return *e;
    }
    out.type_name = *name;
    out.type = TypeInfo{{}, *size, static_cast<std::uint32_t>(*align), *schema};
    auto capacity = get_uint(request, "capacity", max_capacity);
    auto slot_size = get_uint(request, "slot_size", max_slot_size);
    auto readers = get_uint(request, "max_readers", max_readers_limit);
    auto mode = get_string(request, "mode", 16);
    for (const Error* e :
         {capacity ? nullptr : &capacity.error(), slot_size ? nullptr : &slot_size.error(),
          readers ? nullptr : &readers.error(), mode ? nullptr : &mode.error()}) {
        if (e != nullptr) return *e;
    }
    out.options = TopicOptions{};
    out.options.capacity = static_cast<std::uint32_t>(*capacity);
    out.options.slot_size = *slot_size;
    out.options.max_readers = static_cast<std::uint32_t>(*readers);
    if (auto ok = parse_optional_options(request, out); !ok) return std::move(ok).error();
    if (*mode == "overwrite") {
        out.options.mode = DeliveryMode::overwrite;
    } else if (*mode == "reliable") {
        out.options.mode = DeliveryMode::reliable;
    } else if (*mode != "any") {
        return malformed("unknown delivery mode '" + *mode + "'");
    }
    if (auto reader = parse_reader_options(request); reader) {
        out.reader = std::move(reader).value();
    } else {
        return std::move(reader).error();
    }
    return out;
}

Result<json> parse_reply(std::string_view message) {
    json reply = json::parse(message, nullptr, /*allow_exceptions=*/false);
    if (reply.is_discarded() || !reply.is_object()) {
        return Error{ErrorCode::system_error, "daemon sent an unreadable reply"};
    }
    const auto ok = reply.find("ok");
    if (ok == reply.end() || !ok->is_boolean()) {
        return Error{ErrorCode::system_error, "daemon reply lacks 'ok'"};
    }
    if (ok->get<bool>()) return reply;
    const auto code = reply.find("code");
    const auto text = reply.find("error");
    return Error{code != reply.end() && code->is_string()
                     ? error_code_from(code->get_ref<const std::string&>())
                     : ErrorCode::system_error,
                 text != reply.end() && text->is_string() ? text->get<std::string>()
                                                          : std::string("daemon refused")};
}

ErrorCode error_code_from(std::string_view name) noexcept {
    for (auto code :
         {ErrorCode::invalid_name, ErrorCode::invalid_argument, ErrorCode::type_mismatch,
          ErrorCode::parameter_mismatch, ErrorCode::not_a_segment, ErrorCode::version_mismatch,
          ErrorCode::corrupt_segment, ErrorCode::resource_exhausted, ErrorCode::permission_denied,
          ErrorCode::timeout, ErrorCode::system_error, ErrorCode::not_found,
          ErrorCode::daemon_unreachable}) {
        if (ipcbus::to_string(code) == name) return code;
    }
    return ErrorCode::system_error;
}

}  // namespace ipcbus::detail::protocol
