// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the daemon's wire protocol parsers. Anything that can connect to the
// daemon's socket can send the daemon anything, and the daemon's replies are parsed by every
// client: neither parser may crash, leak, read out of bounds or hit undefined behaviour on
// any input, and every refusal must be an Error with a message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol.hpp"

namespace {

using namespace ipcbus::detail::protocol;

void check(bool condition) {
    if (!condition) std::abort();
}

// The daemon answers every refused request with make_error(error).dump(): that must not
// throw (e.g. on a message quoting invalid UTF-8), and a client must read back the same error.
void check_refusal(const ipcbus::Error& error) {
    check(!error.message.empty());
    const std::string reply = make_error(error).dump();
    auto parsed = parse_reply(reply);
    check(!parsed && parsed.error().code == error.code && parsed.error().message == error.message);
}

void fuzz_request(std::string_view message) {
    auto request = parse_request(message);
    if (!request) {
        check_refusal(request.error());
        return;
    }
    // parse_request promises an object with a supported version and a string "op".
    check(request->is_object());
    const auto op = request->find("op");
    check(op != request->end() && op->is_string());
    if (op->get_ref<const std::string&>() == "open") {
        auto open = parse_open(*request);
        if (!open) {
            check_refusal(open.error());
            return;
        }
        check(open->topic.size() <= ipcbus::max_topic_name_length);
        check(open->type_name.size() <= ipcbus::max_type_name_length);
        check(open->options.capacity <= ipcbus::max_capacity);
        check(open->options.slot_size <= ipcbus::max_slot_size);
        check(open->options.max_readers <= ipcbus::max_readers_limit);
        // What the client library would build from it, and the request it would send back.
        const auto topic_request = open->as_topic_request();
        const auto rebuilt = make_open(topic_request, open->role).dump();
        auto again = parse_request(rebuilt);
        check(static_cast<bool>(again));
        check(static_cast<bool>(parse_open(*again)));
    } else if (op->get_ref<const std::string&>() == "close") {
        if (auto handle = get_uint(*request, "handle"); !handle) check_refusal(handle.error());
    }
}

void fuzz_reply(std::string_view message) {
    auto reply = parse_reply(message);
    if (!reply) {
        check(!reply.error().message.empty());
        return;
    }
    check(reply->is_object());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view message(reinterpret_cast<const char*>(data), size);
    fuzz_request(message);
    fuzz_reply(message);
    return 0;
}
