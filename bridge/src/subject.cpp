// SPDX-License-Identifier: Apache-2.0
#include "subject.hpp"

#include "names.hpp"

namespace ipcbus::bridge {
namespace {

constexpr std::string_view kRoot = "ipcbus.";

bool is_plain(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

void append_escaped(std::string& out, char c) {
    constexpr const char* kHex = "0123456789ABCDEF";
    const auto byte = static_cast<unsigned char>(c);
    out += '%';
    out += kHex[byte >> 4];
    out += kHex[byte & 0xf];
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;  // lower case is not what subject_for writes: refuse, keep one spelling
}

// Appends topic text: '/' becomes the token separator, other characters are escaped.
void append_token(std::string& out, std::string_view text) {
    for (char c : text) {
        if (c == '/') {
            out += '.';
        } else if (is_plain(c)) {
            out += c;
        } else {
            append_escaped(out, c);
        }
    }
}

Error bad_subject(std::string_view subject, const std::string& why) {
    return Error{ErrorCode::invalid_name,
                 "subject '" + std::string(subject.substr(0, 200)) + "': " + why};
}

}  // namespace

std::string subject_for(std::string_view nats_domain, std::string_view topic) {
    std::string out(kRoot);
    out += nats_domain;
    out += '.';
    append_token(out, topic);
    return out;
}

Result<std::string> topic_for(std::string_view nats_domain, std::string_view subject) {
    const std::string prefix = std::string(kRoot) + std::string(nats_domain) + ".";
    if (!subject.starts_with(prefix)) return bad_subject(subject, "not of bus '" + prefix + "'");
    std::string topic;
    for (std::size_t i = prefix.size(); i < subject.size(); ++i) {
        const char c = subject[i];
        if (c == '.') {
            topic += '/';
        } else if (c == '%') {
            const int high = i + 2 < subject.size() ? hex_value(subject[i + 1]) : -1;
            const int low = high >= 0 ? hex_value(subject[i + 2]) : -1;
            if (low < 0) return bad_subject(subject, "bad %XX escape");
            // One spelling per topic: subject_for escapes only '.', so only %2E is ours
            // (another escape, %2F say, would give a second subject for one topic).
            if (high * 16 + low != '.') return bad_subject(subject, "escape other than %2E");
            topic += '.';
            i += 2;
        } else if (is_plain(c)) {
            topic += c;
        } else {
            return bad_subject(subject, "character not written by ipcbus-bridge");
        }
    }
    if (auto ok = detail::validate_topic_name(topic); !ok) return std::move(ok).error();
    return topic;
}

std::vector<std::string> subscriptions_for(std::string_view nats_domain, std::string_view pattern) {
    std::string subject = std::string(kRoot) + std::string(nats_domain);
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= pattern.size()) {
        const std::size_t end = std::min(pattern.find('/', start), pattern.size());
        const std::string_view level = pattern.substr(start, end - start);
        if (level == "**") {
            // '**' also matches no level at all: the subject without it, too (unless it
            // is the bus's root: a topic has at least one level).
            if (start > 0) out.push_back(subject);
            out.push_back(subject + ".>");
            return out;
        }
        subject += '.';
        if (level == "*") {
            subject += '*';
        } else {
            append_token(subject, level);
        }
        start = end + 1;
    }
    out.push_back(subject);
    return out;
}

bool covers(std::string_view wide, std::string_view narrow) noexcept {
    auto next = [](std::string_view& s) {
        const std::size_t end = std::min(s.find('.'), s.size());
        const std::string_view token = s.substr(0, end);
        s.remove_prefix(std::min(end + 1, s.size()));
        return token;
    };
    while (!wide.empty()) {
        const std::string_view w = next(wide);
        if (w == ">") return !narrow.empty();  // '>' matches one or more tokens
        if (narrow.empty()) return false;
        const std::string_view n = next(narrow);
        if (n == ">") return false;  // narrow goes on for ever; wide does not
        if (w != "*" && w != n) return false;
    }
    return narrow.empty();
}

std::vector<std::string> subscriptions_for(std::string_view nats_domain,
                                           const std::vector<std::string>& patterns) {
    std::vector<std::string> all;
    for (const auto& pattern : patterns) {
        for (auto& subject : subscriptions_for(nats_domain, pattern)) all.push_back(subject);
    }
    std::vector<std::string> kept;
    for (std::size_t i = 0; i < all.size(); ++i) {
        bool covered = false;
        for (std::size_t j = 0; j < all.size() && !covered; ++j) {
            // Of two equal subjects keep the first; otherwise drop the narrower.
            covered = j != i && covers(all[j], all[i]) && (all[j] != all[i] || j < i);
        }
        if (!covered) kept.push_back(all[i]);
    }
    return kept;
}

}  // namespace ipcbus::bridge
