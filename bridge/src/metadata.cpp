// SPDX-License-Identifier: Apache-2.0
#include "metadata.hpp"

#include <charconv>
#include <string_view>
#include <vector>

#include "ipcbus/topic.hpp"

namespace ipcbus::bridge {
namespace {

Error bad_header(const char* header, const std::string& why) {
    return Error{ErrorCode::invalid_argument, std::string("header ") + header + ": " + why};
}

// Splits off the next space-separated field of `text`.
std::string_view next_field(std::string_view& text) {
    const std::size_t end = std::min(text.find(' '), text.size());
    const std::string_view field = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    return field;
}

template <class T>
bool parse_number(std::string_view field, T& out, int base = 10) {
    if (field.empty()) return false;
    const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), out, base);
    return ec == std::errc{} && end == field.data() + field.size();
}

bool printable_without_spaces(std::string_view text) {
    for (char c : text) {
        if (c <= 0x20 || c > 0x7e) return false;
    }
    return !text.empty();
}

Result<Ok> parse_message_header(std::string_view text, Metadata& meta) {
    if (next_field(text) != "1") return bad_header(kMessageHeader, "unknown version");
    const std::string_view origin = next_field(text);
    if (!printable_without_spaces(origin) || origin.size() > 200) {
        return bad_header(kMessageHeader, "bad origin");
    }
    meta.origin = origin;
    const bool ok = parse_number(next_field(text), meta.link, 16) &&
                    parse_number(next_field(text), meta.link_sequence) &&
                    parse_number(next_field(text), meta.sequence) &&
                    parse_number(next_field(text), meta.publisher) &&
                    parse_number(next_field(text), meta.timestamp_ns) && text.empty();
    if (!ok) return bad_header(kMessageHeader, "malformed numbers");
    return Ok{};
}

Result<Ok> parse_type_header(std::string_view text, Metadata& meta) {
    const bool ok = parse_number(next_field(text), meta.type_size) &&
                    parse_number(next_field(text), meta.type_align) &&
                    parse_number(next_field(text), meta.schema_hash, 16) &&
                    parse_number(next_field(text), meta.slot_size);
    if (!ok) return bad_header(kTypeHeader, "malformed numbers");
    if (text.size() > max_type_name_length) return bad_header(kTypeHeader, "type name too long");
    meta.type_name = text;
    const bool sane = meta.slot_size > 0 && meta.slot_size <= max_slot_size &&
                      meta.type_size <= meta.slot_size && meta.type_align > 0 &&
                      (meta.type_align & (meta.type_align - 1)) == 0;
    if (!sane) return bad_header(kTypeHeader, "sizes out of range");
    return Ok{};
}

}  // namespace

// Appends ' ' and `value` in `base` (to_chars: no locale, no allocation, unlike printf).
template <class T>
void append_number(std::string& out, T value, int base = 10) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value, base);
    out += ' ';
    out.append(digits, end);
}

natsStatus write_metadata(natsMsg* msg, const Metadata& meta, const std::string& topic,
                          bool dedup_id) {
    std::string text = "1 " + meta.origin;
    append_number(text, meta.link, 16);
    append_number(text, meta.link_sequence);
    append_number(text, meta.sequence);
    append_number(text, meta.publisher);
    append_number(text, meta.timestamp_ns);
    natsStatus s = natsMsgHeader_Set(msg, kMessageHeader, text.c_str());
    if (s != NATS_OK) return s;
    text.clear();
    append_number(text, meta.type_size);
    append_number(text, meta.type_align);
    append_number(text, meta.schema_hash, 16);
    append_number(text, meta.slot_size);
    text += ' ';
    text += meta.type_name;
    s = natsMsgHeader_Set(msg, kTypeHeader, text.c_str() + 1);  // without the leading ' '
    if (s == NATS_OK && meta.mode) {
        s = natsMsgHeader_Set(msg, kModeHeader, std::string(to_string(*meta.mode)).c_str());
    }
    if (s != NATS_OK || !dedup_id) return s;
    // The exporter run and its counter, not the topic's sequence: a re-send within a run
    // keeps its id, and a topic recreated after a restart (sequences from 0 again) can
    // never collide with ids still in the stream's duplicate window.
    const std::string id = meta.origin + ":" + std::to_string(meta.link) + ":" + topic + ":" +
                           std::to_string(meta.link_sequence);
    return natsMsgHeader_Set(msg, kDedupHeader, id.c_str());
}

Result<Metadata> read_metadata(natsMsg* msg) {
    Metadata meta;
    const char* value = nullptr;
    if (natsMsgHeader_Get(msg, kMessageHeader, &value) != NATS_OK || value == nullptr) {
        return bad_header(kMessageHeader, "missing");
    }
    if (auto ok = parse_message_header(value, meta); !ok) return std::move(ok).error();
    if (natsMsgHeader_Get(msg, kTypeHeader, &value) != NATS_OK || value == nullptr) {
        return bad_header(kTypeHeader, "missing");
    }
    if (auto ok = parse_type_header(value, meta); !ok) return std::move(ok).error();
    if (natsMsgHeader_Get(msg, kModeHeader, &value) == NATS_OK && value != nullptr) {
        const std::string_view mode = value;
        if (mode == "reliable") {
            meta.mode = DeliveryMode::reliable;
        } else if (mode == "overwrite") {
            meta.mode = DeliveryMode::overwrite;
        } else {
            return bad_header(kModeHeader, "unknown delivery mode");
        }
    }
    return meta;
}

}  // namespace ipcbus::bridge
