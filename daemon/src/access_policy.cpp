// SPDX-License-Identifier: Apache-2.0
#include "ipcbusd/access_policy.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <limits>
#include <system_error>
#include <utility>

#include <toml++/toml.h>

#include "names.hpp"

namespace ipcbusd {
namespace {

using ipcbus::Error;
using ipcbus::ErrorCode;
using ipcbus::Ok;
using ipcbus::Result;

// Same limit as libipcbus topic names: a longer pattern could only match invalid topics.
constexpr std::size_t max_pattern_length = 127;
// A config is a few kilobytes; the cap stops a path like /dev/zero from eating memory.
constexpr std::size_t max_config_bytes = 1U << 20;

constexpr std::int64_t max_u32 = std::numeric_limits<std::uint32_t>::max();
constexpr std::int64_t max_i64 = std::numeric_limits<std::int64_t>::max();

/// Allowed values of an integer key, and the phrase that describes them in errors.
struct Range {
    std::int64_t min;
    std::int64_t max;
    const char* text;
    bool power_of_two = false;
};

constexpr Range capacity_range{2, 1 << 24, "a power of two between 2 and 16777216", true};
constexpr Range slot_size_range{1, 1 << 30, "between 1 and 1073741824"};
constexpr Range max_readers_range{1, 1024, "between 1 and 1024"};
constexpr Range id_range{0, max_u32, "between 0 and 4294967295"};
constexpr Range count_limit_range{1, max_u32, "between 1 and 4294967295"};
constexpr Range bytes_limit_range{1, max_i64, "a positive integer"};

using ipcbus::detail::printable;

/// The levels of a '/'-separated name, walked in place so that matching never allocates.
class LevelCursor {
  public:
    explicit LevelCursor(std::string_view text) noexcept : text_(text) {}

    [[nodiscard]] bool done() const noexcept { return pos_ > text_.size(); }
    [[nodiscard]] std::string_view level() const noexcept {
        const std::size_t end = std::min(text_.find('/', pos_), text_.size());
        return text_.substr(pos_, end - pos_);
    }
    void next() noexcept { pos_ += level().size() + 1; }

  private:
    std::string_view text_;
    std::size_t pos_ = 0;
};

/// Why a pattern level is invalid, or null when it is fine.
const char* level_problem(std::string_view level) noexcept {
    if (level.empty()) return "empty level (leading, trailing or '//')";
    if (level == "*" || level == "**") return nullptr;
    if (level == "." || level == "..") return "'.' or '..' level";
    for (char c : level) {
        if (c == '*') return "'*' and '**' must be a whole level";
        if (!ipcbus::detail::is_topic_level_char(c)) {
            return "only letters, digits, '_', '-', '.', '/' and wildcards are allowed";
        }
    }
    return nullptr;
}

/// Where an error is reported: the origin, and the rule being read ("topic rule 2: ").
struct Scope {
    std::string_view origin;
    std::string prefix;

    [[nodiscard]] Error error(const toml::source_region& at, std::string_view what) const {
        std::string message(origin);
        // toml++ leaves the line at 0 when it does not know it.
        if (at.begin.line > 0) message += ":" + std::to_string(at.begin.line);
        message += ": " + prefix;
        message += what;
        return Error{ErrorCode::invalid_argument, std::move(message)};
    }
};

std::string quoted(std::string_view key) {
    return "'" + printable(key) + "'";
}

std::string_view type_name(const toml::node& node) noexcept {
    switch (node.type()) {
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a floating-point number";
        case toml::node_type::boolean:
            return "a boolean";
        default:
            return "a date or time";
    }
}

Result<std::int64_t> read_integer(const Scope& scope, std::string_view what, const toml::node& node,
                                  const Range& range) {
    const auto* value = node.as_integer();
    if (value == nullptr) {
        return scope.error(node.source(), std::string(what) + " must be an integer, not " +
                                              std::string(type_name(node)));
    }
    const std::int64_t v = value->get();
    // Range first: v - 1 overflows for INT64_MIN (found by fuzz_config).
    const bool in_range = v >= range.min && v <= range.max;
    if (!in_range || (range.power_of_two && (v & (v - 1)) != 0)) {
        return scope.error(node.source(), std::string(what) + " must be " + range.text + " (got " +
                                              std::to_string(v) + ")");
    }
    return v;
}

template <class T>
Result<Ok> read_into(const Scope& scope, std::string_view key, const toml::node& node,
                     const Range& range, T& out) {
    auto value = read_integer(scope, quoted(key), node, range);
    if (!value) return std::move(value).error();
    out = static_cast<T>(*value);
    return Ok{};
}

template <class Id>
Result<Ok> read_ids(const Scope& scope, std::string_view key, const toml::node& node,
                    std::optional<std::vector<Id>>& out) {
    const auto* array = node.as_array();
    if (array == nullptr) {
        return scope.error(node.source(), quoted(key) + " must be an array of integers, not " +
                                              std::string(type_name(node)));
    }
    std::vector<Id> ids;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const std::string what = quoted(key) + " entry " + std::to_string(i + 1);
        auto id = read_integer(scope, what, (*array)[i], id_range);
        if (!id) return std::move(id).error();
        ids.push_back(static_cast<Id>(*id));
    }
    out = std::move(ids);
    return Ok{};
}

Result<Ok> read_pattern(const Scope& scope, const toml::node& node, std::string& out) {
    const auto* value = node.as_string();
    if (value == nullptr) {
        return scope.error(node.source(),
                           "'pattern' must be a string, not " + std::string(type_name(node)));
    }
    if (auto valid = validate_pattern(value->get()); !valid) {
        return scope.error(node.source(), valid.error().message);
    }
    out = value->get();
    return Ok{};
}

Result<Ok> read_flag(const Scope& scope, std::string_view key, const toml::node& node, bool& out) {
    const auto* value = node.as_boolean();
    if (value == nullptr) {
        return scope.error(node.source(), quoted(key) + " must be true or false, not " +
                                              std::string(type_name(node)));
    }
    out = value->get();
    return Ok{};
}

Result<Ok> apply_rule_key(const Scope& scope, TopicRule& rule, const toml::key& key,
                          const toml::node& node) {
    const std::string_view name = key.str();
    if (name == "pattern") return read_pattern(scope, node, rule.pattern);
    if (name == "capacity") return read_into(scope, name, node, capacity_range, rule.capacity);
    if (name == "slot_size") return read_into(scope, name, node, slot_size_range, rule.slot_size);
    if (name == "max_readers") {
        return read_into(scope, name, node, max_readers_range, rule.max_readers);
    }
    if (name == "keep") return read_flag(scope, name, node, rule.keep);
    if (name == "publish_uids") return read_ids(scope, name, node, rule.publish_uids);
    if (name == "publish_gids") return read_ids(scope, name, node, rule.publish_gids);
    if (name == "subscribe_uids") return read_ids(scope, name, node, rule.subscribe_uids);
    if (name == "subscribe_gids") return read_ids(scope, name, node, rule.subscribe_gids);
    return scope.error(key.source(), "unknown key " + quoted(name) + " in [[topic]]");
}

Result<TopicRule> read_rule(std::string_view origin, const toml::node& node, std::size_t index) {
    const Scope scope{origin, "topic rule " + std::to_string(index + 1) + ": "};
    const auto* table = node.as_table();
    if (table == nullptr) {
        return scope.error(node.source(), "must be a table, not " + std::string(type_name(node)));
    }
    TopicRule rule;
    for (const auto& [key, value] : *table) {
        if (auto applied = apply_rule_key(scope, rule, key, value); !applied) {
            return std::move(applied).error();
        }
    }
    if (rule.pattern.empty()) return scope.error(table->source(), "missing required key 'pattern'");
    return rule;
}

Result<std::vector<TopicRule>> read_rules(std::string_view origin, const toml::node& node) {
    const auto* array = node.as_array();
    if (array == nullptr) {
        return Scope{origin, {}}.error(
            node.source(),
            "'topic' must be an array of tables ([[topic]]), not " + std::string(type_name(node)));
    }
    std::vector<TopicRule> rules;
    for (std::size_t i = 0; i < array->size(); ++i) {
        auto rule = read_rule(origin, (*array)[i], i);
        if (!rule) return std::move(rule).error();
        rules.push_back(std::move(rule).value());
    }
    return rules;
}

Result<Ok> apply_limits_key(const Scope& scope, Limits& limits, const toml::key& key,
                            const toml::node& node) {
    const std::string_view name = key.str();
    if (name == "max_topics") {
        return read_into(scope, name, node, count_limit_range, limits.max_topics);
    }
    if (name == "max_clients") {
        return read_into(scope, name, node, count_limit_range, limits.max_clients);
    }
    if (name == "max_clients_per_uid") {
        return read_into(scope, name, node, count_limit_range, limits.max_clients_per_uid);
    }
    if (name == "max_segment_bytes") {
        return read_into(scope, name, node, bytes_limit_range, limits.max_segment_bytes);
    }
    if (name == "max_total_bytes") {
        return read_into(scope, name, node, bytes_limit_range, limits.max_total_bytes);
    }
    return scope.error(key.source(), "unknown key " + quoted(name) + " in [limits]");
}

Result<Limits> read_limits(std::string_view origin, const toml::node& node) {
    const Scope scope{origin, {}};
    const auto* table = node.as_table();
    if (table == nullptr) {
        return scope.error(node.source(), "'limits' must be a table ([limits]), not " +
                                              std::string(type_name(node)));
    }
    Limits limits;
    for (const auto& [key, value] : *table) {
        if (auto applied = apply_limits_key(scope, limits, key, value); !applied) {
            return std::move(applied).error();
        }
    }
    return limits;
}

Result<toml::table> parse_toml(std::string_view text, std::string_view origin) {
    try {
        return toml::parse(text, origin);
    } catch (const toml::parse_error& e) {
        return Scope{origin, {}}.error(e.source(), e.description());
    }
}

Error system_failure(const std::string& path, const char* what, int error) {
    return Error{ErrorCode::system_error,
                 path + ": cannot " + what + ": " + std::generic_category().message(error)};
}

/// Appends the rest of `fd` to `out`, stopping once past the size cap; returns an errno or 0.
int read_all(int fd, std::string& out) {
    char buffer[4096];
    while (out.size() <= max_config_bytes) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got == 0) return 0;
        if (got < 0 && errno != EINTR) return errno;
        if (got > 0) out.append(buffer, static_cast<std::size_t>(got));
    }
    return 0;
}

Result<std::string> read_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return system_failure(path, "open", errno);
    std::string text;
    const int error = read_all(fd, text);
    ::close(fd);
    if (error != 0) return system_failure(path, "read", error);
    if (text.size() > max_config_bytes) {
        return Error{ErrorCode::invalid_argument, path + ": larger than 1 MiB, not a config"};
    }
    return text;
}

}  // namespace

// toml++ 3.3 (Debian 12) runs into undefined behaviour ("unreachable" reached) on many
// non-ASCII characters outside strings (tomlplusplus issue #295, found by fuzz_config).
// Nothing in a configuration needs them: topic patterns are ASCII, and so are uids. So
// non-ASCII bytes are refused before toml++ sees the text.
Result<Ok> require_ascii(std::string_view text, std::string_view origin) {
    std::size_t line = 1;
    for (const char c : text) {
        if (c == '\n') ++line;
        if (static_cast<unsigned char>(c) >= 0x80) {
            return Error{ErrorCode::invalid_argument,
                         std::string(origin) + ":" + std::to_string(line) +
                             ": non-ASCII character; ipcbusd configuration files are ASCII-only"};
        }
    }
    return Ok{};
}

Result<AccessPolicy> AccessPolicy::parse(std::string_view toml_text, std::string_view origin) {
    if (auto ascii = require_ascii(toml_text, origin); !ascii) return std::move(ascii).error();
    auto root = parse_toml(toml_text, origin);
    if (!root) return std::move(root).error();
    AccessPolicy policy;
    const Scope scope{origin, {}};
    for (const auto& [key, node] : *root) {
        if (key.str() == "limits") {
            auto limits = read_limits(origin, node);
            if (!limits) return std::move(limits).error();
            policy.limits_ = *limits;
        } else if (key.str() == "topic") {
            auto rules = read_rules(origin, node);
            if (!rules) return std::move(rules).error();
            policy.rules_ = std::move(rules).value();
        } else {
            return scope.error(key.source(), "unknown top-level key " + quoted(key.str()));
        }
    }
    return policy;
}

Result<AccessPolicy> AccessPolicy::load(const std::string& path) {
    auto text = read_file(path);
    if (!text) return std::move(text).error();
    return parse(*text, path);
}

const TopicRule* AccessPolicy::rule_for(std::string_view topic) const noexcept {
    for (const TopicRule& rule : rules_) {
        if (topic_matches(rule.pattern, topic)) return &rule;
    }
    return nullptr;
}

bool AccessPolicy::allows(std::string_view topic, Access access, uid_t uid,
                          const std::vector<gid_t>& gids) const noexcept {
    const TopicRule* rule = rule_for(topic);
    if (rule == nullptr) return true;
    const bool publish = access == Access::publish;
    const auto& allowed_uids = publish ? rule->publish_uids : rule->subscribe_uids;
    const auto& allowed_gids = publish ? rule->publish_gids : rule->subscribe_gids;
    if (!allowed_uids && !allowed_gids) return true;
    if (allowed_uids &&
        std::find(allowed_uids->begin(), allowed_uids->end(), uid) != allowed_uids->end()) {
        return true;
    }
    if (!allowed_gids) return false;
    return std::any_of(gids.begin(), gids.end(), [&](gid_t gid) {
        return std::find(allowed_gids->begin(), allowed_gids->end(), gid) != allowed_gids->end();
    });
}

bool topic_matches(std::string_view pattern, std::string_view topic) noexcept {
    if (pattern.empty() || topic.empty()) return false;
    LevelCursor p(pattern);
    LevelCursor t(topic);
    // Glob matching over levels: on a mismatch, retry from the last '**' with it
    // swallowing one more topic level. Earlier '**'s never need revisiting.
    bool seen_globstar = false;
    LevelCursor after_globstar = p;
    LevelCursor globstar_end = t;
    while (!t.done()) {
        if (!p.done() && p.level() == "**") {
            p.next();
            seen_globstar = true;
            after_globstar = p;
            globstar_end = t;
        } else if (!p.done() && (p.level() == "*" || p.level() == t.level())) {
            p.next();
            t.next();
        } else if (seen_globstar) {
            globstar_end.next();
            t = globstar_end;
            p = after_globstar;
        } else {
            return false;
        }
    }
    while (!p.done() && p.level() == "**") p.next();
    return p.done();
}

Result<Ok> validate_pattern(std::string_view pattern) {
    const auto bad = [pattern](std::string_view why) {
        return Error{ErrorCode::invalid_argument,
                     "pattern '" + printable(pattern) + "': " + std::string(why)};
    };
    if (pattern.empty()) return bad("empty");
    if (pattern.size() > max_pattern_length) return bad("longer than 127 characters");
    for (LevelCursor level(pattern); !level.done(); level.next()) {
        if (const char* problem = level_problem(level.level())) return bad(problem);
    }
    return Ok{};
}

}  // namespace ipcbusd
