// SPDX-License-Identifier: Apache-2.0
#include "names.hpp"

#include "ipcbus/topic.hpp"

namespace ipcbus::detail {
namespace {

bool is_word_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

Error bad_topic(std::string_view topic, const char* why) {
    return Error{ErrorCode::invalid_name, "topic '" + printable(topic) + "': invalid name: " + why};
}

}  // namespace

bool is_topic_level_char(char c) noexcept {
    return is_word_char(c) || c == '.';
}

std::string printable(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 160)) {
        if (c >= 0x20 && c < 0x7f) {
            out += c;
        } else {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[(static_cast<unsigned char>(c) >> 4) & 0xf];
            out += hex[static_cast<unsigned char>(c) & 0xf];
        }
    }
    return out;
}

Result<Ok> validate_domain_name(std::string_view domain) {
    if (domain.empty() || domain.size() > max_domain_name_length) {
        return Error{ErrorCode::invalid_name,
                     "domain '" + printable(domain) + "': must be 1 to 32 characters"};
    }
    for (char c : domain) {
        if (!is_word_char(c)) {
            return Error{ErrorCode::invalid_name,
                         "domain '" + printable(domain) + "': only letters, digits, '_' and '-'"};
        }
    }
    return Ok{};
}

Result<Ok> validate_topic_name(std::string_view topic) {
    if (topic.empty()) return bad_topic(topic, "empty");
    if (topic.size() > max_topic_name_length) return bad_topic(topic, "longer than 127 characters");
    std::size_t level_start = 0;
    for (std::size_t i = 0; i <= topic.size(); ++i) {
        if (i == topic.size() || topic[i] == '/') {
            const std::string_view level = topic.substr(level_start, i - level_start);
            if (level.empty()) return bad_topic(topic, "empty level (leading, trailing or '//')");
            if (level == "." || level == "..") return bad_topic(topic, "'.' or '..' level");
            level_start = i + 1;
        } else if (!is_topic_level_char(topic[i])) {
            return bad_topic(topic, "only letters, digits, '_', '-', '.' and '/' are allowed");
        }
    }
    return Ok{};
}

Result<Ok> validate_group_name(std::string_view group) {
    if (group.empty() || group.size() > max_group_name_length) {
        return Error{ErrorCode::invalid_name,
                     "consumer group '" + printable(group) + "': must be 1 to 64 characters"};
    }
    for (char c : group) {
        if (!is_topic_level_char(c)) {
            return Error{ErrorCode::invalid_name, "consumer group '" + printable(group) +
                                                      "': only letters, digits, '_', '-' and '.'"};
        }
    }
    return Ok{};
}

}  // namespace ipcbus::detail

namespace ipcbus {

Result<Ok> check_topic_name(std::string_view name) {
    return detail::validate_topic_name(name);
}

}  // namespace ipcbus
