// SPDX-License-Identifier: Apache-2.0
// ipcbusd's access policy: TOML parsing, every configuration mistake refused with a message
// that names the origin, line and key, wildcard topic matching, and uid/gid checks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "ipcbusd/access_policy.hpp"

namespace ipcbusd {
namespace {

using ipcbus::ErrorCode;

AccessPolicy parse_ok(std::string_view text) {
    auto policy = AccessPolicy::parse(text, "cfg.toml");
    EXPECT_TRUE(policy) << policy.error().message;
    return policy ? std::move(policy).value() : AccessPolicy{};
}

/// Parses `text`, expects an invalid_argument error and returns its message.
std::string parse_error(std::string_view text) {
    auto policy = AccessPolicy::parse(text, "cfg.toml");
    if (policy) {
        ADD_FAILURE() << "parsed without error:\n" << text;
        return {};
    }
    EXPECT_EQ(policy.error().code, ErrorCode::invalid_argument);
    return policy.error().message;
}

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

#define EXPECT_CONTAINS(text, part) EXPECT_TRUE(contains(text, part)) << (text)

// A temporary file, removed when the test ends.
class TempFile {
  public:
    explicit TempFile(std::string_view content) {
        const int fd = ::mkstemp(path_.data());
        if (fd < 0) throw std::system_error(errno, std::generic_category(), "mkstemp");
        const auto written = ::write(fd, content.data(), content.size());
        ::close(fd);
        if (written != static_cast<ssize_t>(content.size())) throw std::runtime_error("write");
    }
    ~TempFile() { ::unlink(path_.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    [[nodiscard]] const std::string& path() const { return path_; }

  private:
    std::string path_ = "/tmp/ipcbus_access_policy_XXXXXX";
};

constexpr std::string_view full_config = R"(
[limits]
max_topics = 10
max_clients = 20
max_segment_bytes = 4096
max_total_bytes = 8192

[[topic]]
pattern = "trading/**"
capacity = 4096
slot_size = 256
max_readers = 32
publish_uids = [1000]
publish_gids = [2000]
subscribe_uids = [1000, 1001]
subscribe_gids = []

[[topic]]
pattern = "sensors/*/imu"
)";

// ---- Parsing -------------------------------------------------------------------------------

TEST(AccessPolicy, emptyConfigHasDefaultLimitsAndNoRules) {
    for (std::string_view text : {"", "# only a comment\n\n"}) {
        const AccessPolicy policy = parse_ok(text);
        EXPECT_TRUE(policy.rules().empty());
        EXPECT_EQ(policy.limits().max_topics, 1024U);
        EXPECT_EQ(policy.limits().max_clients, 256U);
        EXPECT_EQ(policy.limits().max_segment_bytes, 1ULL << 30);
        EXPECT_EQ(policy.limits().max_total_bytes, 8ULL << 30);
        EXPECT_TRUE(policy.allows("any/topic", Access::publish, 1234, {1234}));
    }
}

TEST(AccessPolicy, defaultConstructedPolicyAllowsEveryone) {
    const AccessPolicy policy;
    EXPECT_EQ(policy.rule_for("a/b"), nullptr);
    EXPECT_TRUE(policy.allows("a/b", Access::subscribe, 0, {}));
}

TEST(AccessPolicy, parsesEveryLimit) {
    const AccessPolicy policy = parse_ok(full_config);
    EXPECT_EQ(policy.limits().max_topics, 10U);
    EXPECT_EQ(policy.limits().max_clients, 20U);
    EXPECT_EQ(policy.limits().max_segment_bytes, 4096U);
    EXPECT_EQ(policy.limits().max_total_bytes, 8192U);
}

TEST(AccessPolicy, keepsDefaultsForOmittedLimits) {
    const AccessPolicy policy = parse_ok("[limits]\nmax_clients = 3\n");
    EXPECT_EQ(policy.limits().max_clients, 3U);
    EXPECT_EQ(policy.limits().max_topics, 1024U);
    EXPECT_EQ(policy.limits().max_total_bytes, 8ULL << 30);
}

TEST(AccessPolicy, parsesEveryRuleField) {
    const AccessPolicy policy = parse_ok(full_config);
    ASSERT_EQ(policy.rules().size(), 2U);
    const TopicRule& rule = policy.rules()[0];
    EXPECT_EQ(rule.pattern, "trading/**");
    EXPECT_EQ(rule.capacity, 4096U);
    EXPECT_EQ(rule.slot_size, 256U);
    EXPECT_EQ(rule.max_readers, 32U);
    EXPECT_EQ(rule.publish_uids, std::vector<uid_t>{1000});
    EXPECT_EQ(rule.publish_gids, std::vector<gid_t>{2000});
    EXPECT_EQ(rule.subscribe_uids, (std::vector<uid_t>{1000, 1001}));
    EXPECT_EQ(rule.subscribe_gids, std::vector<gid_t>{});
}

TEST(AccessPolicy, leavesOmittedRuleFieldsUnset) {
    const AccessPolicy policy = parse_ok(full_config);
    ASSERT_EQ(policy.rules().size(), 2U);
    const TopicRule& rule = policy.rules()[1];
    EXPECT_EQ(rule.pattern, "sensors/*/imu");
    EXPECT_EQ(rule.capacity, 0U);
    EXPECT_EQ(rule.slot_size, 0U);
    EXPECT_EQ(rule.max_readers, 0U);
    EXPECT_FALSE(rule.publish_uids.has_value());
    EXPECT_FALSE(rule.publish_gids.has_value());
    EXPECT_FALSE(rule.subscribe_uids.has_value());
    EXPECT_FALSE(rule.subscribe_gids.has_value());
}

TEST(AccessPolicy, acceptsBoundaryValues) {
    const AccessPolicy policy = parse_ok(R"(
[limits]
max_topics = 4294967295
max_total_bytes = 9223372036854775807
[[topic]]
pattern = "a"
capacity = 16777216
slot_size = 1073741824
max_readers = 1024
publish_uids = [0, 4294967295]
[[topic]]
pattern = "b"
capacity = 2
slot_size = 1
max_readers = 1
)");
    ASSERT_EQ(policy.rules().size(), 2U);
    EXPECT_EQ(policy.limits().max_topics, 4294967295U);
    EXPECT_EQ(policy.limits().max_total_bytes, 9223372036854775807ULL);
    EXPECT_EQ(policy.rules()[0].capacity, 16777216U);
    EXPECT_EQ(policy.rules()[0].slot_size, 1073741824U);
    EXPECT_EQ(policy.rules()[0].publish_uids, (std::vector<uid_t>{0, 4294967295U}));
    EXPECT_EQ(policy.rules()[1].capacity, 2U);
}

TEST(AccessPolicy, firstMatchingRuleWins) {
    const AccessPolicy policy = parse_ok(R"(
[[topic]]
pattern = "a/secret"
publish_uids = [1]
[[topic]]
pattern = "a/*"
publish_uids = [2]
[[topic]]
pattern = "**"
publish_uids = [3]
)");
    ASSERT_EQ(policy.rules().size(), 3U);
    EXPECT_EQ(policy.rule_for("a/secret"), &policy.rules()[0]);
    EXPECT_EQ(policy.rule_for("a/other"), &policy.rules()[1]);
    EXPECT_EQ(policy.rule_for("b"), &policy.rules()[2]);
    EXPECT_TRUE(policy.allows("a/secret", Access::publish, 1, {}));
    EXPECT_FALSE(policy.allows("a/secret", Access::publish, 2, {}));
    EXPECT_TRUE(policy.allows("a/other", Access::publish, 2, {}));
    EXPECT_FALSE(policy.allows("a/other", Access::publish, 3, {}));
}

// ---- Parse errors --------------------------------------------------------------------------

TEST(AccessPolicyErrors, syntaxErrorNamesOriginAndLine) {
    const std::string message = parse_error("[limits]\nmax_topics = = 3\n");
    EXPECT_CONTAINS(message, "cfg.toml:2:");
}

TEST(AccessPolicyErrors, duplicateKeyIsRefused) {
    const std::string message = parse_error("[limits]\nmax_topics = 3\nmax_topics = 4\n");
    EXPECT_CONTAINS(message, "cfg.toml:3:");
}

TEST(AccessPolicyErrors, unknownTopLevelKeyIsNamed) {
    EXPECT_CONTAINS(parse_error("\nfoo = 1\n"), "cfg.toml:2: unknown top-level key 'foo'");
    EXPECT_CONTAINS(parse_error("[limit]\nmax_topics = 1\n"), "unknown top-level key 'limit'");
}

TEST(AccessPolicyErrors, unknownKeyInLimitsIsNamed) {
    EXPECT_CONTAINS(parse_error("[limits]\nmax_topics = 1\nfoo = 2\n"),
                    "cfg.toml:3: unknown key 'foo' in [limits]");
}

TEST(AccessPolicyErrors, unknownKeyInTopicIsNamedWithItsRule) {
    EXPECT_CONTAINS(parse_error("[[topic]]\npattern = \"a\"\n[[topic]]\npattern = \"b\"\n"
                                "capcity = 8\n"),
                    "cfg.toml:5: topic rule 2: unknown key 'capcity' in [[topic]]");
}

TEST(AccessPolicyErrors, missingPatternIsRefused) {
    EXPECT_CONTAINS(parse_error("[[topic]]\npattern = \"a\"\n[[topic]]\ncapacity = 8\n"),
                    "topic rule 2: missing required key 'pattern'");
}

TEST(AccessPolicyErrors, invalidPatternIsRefused) {
    for (const char* pattern : {"", "a//b", "/a", "a/", "a/../b", "a*", "a/***", "a b"}) {
        const std::string text = "[[topic]]\npattern = \"" + std::string(pattern) + "\"\n";
        const std::string message = parse_error(text);
        EXPECT_CONTAINS(message, "cfg.toml:2: topic rule 1: pattern '" + std::string(pattern));
    }
}

TEST(AccessPolicyErrors, wrongTypesAreNamed) {
    EXPECT_CONTAINS(parse_error("[[topic]]\npattern = 3\n"),
                    "cfg.toml:2: topic rule 1: 'pattern' must be a string, not an integer");
    EXPECT_CONTAINS(parse_error("[[topic]]\npattern = \"a\"\ncapacity = \"8\"\n"),
                    "cfg.toml:3: topic rule 1: 'capacity' must be an integer, not a string");
    EXPECT_CONTAINS(parse_error("[[topic]]\npattern = \"a\"\nslot_size = 8.0\n"),
                    "'slot_size' must be an integer, not a floating-point number");
    EXPECT_CONTAINS(parse_error("[[topic]]\npattern = \"a\"\nmax_readers = true\n"),
                    "'max_readers' must be an integer, not a boolean");
    EXPECT_CONTAINS(parse_error("[[topic]]\npattern = \"a\"\npublish_uids = 1000\n"),
                    "cfg.toml:3: topic rule 1: 'publish_uids' must be an array of integers");
    EXPECT_CONTAINS(parse_error("[[topic]]\npattern = \"a\"\nsubscribe_gids = [1, \"x\"]\n"),
                    "cfg.toml:3: topic rule 1: 'subscribe_gids' entry 2 must be an integer");
    EXPECT_CONTAINS(parse_error("[limits]\nmax_clients = \"many\"\n"),
                    "cfg.toml:2: 'max_clients' must be an integer, not a string");
}

TEST(AccessPolicyErrors, misshapenSectionsAreRefused) {
    EXPECT_CONTAINS(parse_error("limits = 3\n"), "cfg.toml:1: 'limits' must be a table");
    EXPECT_CONTAINS(parse_error("[topic]\npattern = \"a\"\n"),
                    "'topic' must be an array of tables ([[topic]])");
    EXPECT_CONTAINS(parse_error("topic = [1]\n"), "topic rule 1: must be a table, not an integer");
}

TEST(AccessPolicyErrors, ruleNumbersOutOfRangeAreRefused) {
    struct Case {
        const char* line;
        const char* expected;
    };
    const Case cases[] = {
        {"capacity = 0", "'capacity' must be a power of two between 2 and 16777216 (got 0)"},
        {"capacity = 1", "'capacity' must be a power of two between 2 and 16777216 (got 1)"},
        {"capacity = 100", "'capacity' must be a power of two between 2 and 16777216 (got 100)"},
        {"capacity = -4", "'capacity' must be a power of two between 2 and 16777216 (got -4)"},
        {"capacity = 33554432", "'capacity' must be a power of two"},
        {"slot_size = 0", "'slot_size' must be between 1 and 1073741824 (got 0)"},
        {"slot_size = 1073741825", "'slot_size' must be between 1 and 1073741824"},
        {"max_readers = 0", "'max_readers' must be between 1 and 1024 (got 0)"},
        {"max_readers = 1025", "'max_readers' must be between 1 and 1024 (got 1025)"},
        {"publish_uids = [-1]", "'publish_uids' entry 1 must be between 0 and 4294967295"},
        {"publish_gids = [1, 4294967296]", "'publish_gids' entry 2 must be between 0 and"},
        {"subscribe_uids = [-5]", "'subscribe_uids' entry 1 must be between 0 and 4294967295"},
        {"subscribe_gids = [-5]", "'subscribe_gids' entry 1 must be between 0 and 4294967295"},
    };
    for (const Case& c : cases) {
        const std::string message =
            parse_error("[[topic]]\npattern = \"a\"\n" + std::string(c.line) + "\n");
        EXPECT_CONTAINS(message, "cfg.toml:3: topic rule 1: " + std::string(c.expected));
    }
}

TEST(AccessPolicyErrors, limitsOutOfRangeAreRefused) {
    struct Case {
        const char* line;
        const char* expected;
    };
    const Case cases[] = {
        {"max_topics = 0", "'max_topics' must be between 1 and 4294967295 (got 0)"},
        {"max_topics = 4294967296", "'max_topics' must be between 1 and 4294967295"},
        {"max_clients = -1", "'max_clients' must be between 1 and 4294967295 (got -1)"},
        {"max_segment_bytes = 0", "'max_segment_bytes' must be a positive integer (got 0)"},
        {"max_total_bytes = -8", "'max_total_bytes' must be a positive integer (got -8)"},
    };
    for (const Case& c : cases) {
        const std::string message = parse_error("[limits]\n" + std::string(c.line) + "\n");
        EXPECT_CONTAINS(message, "cfg.toml:2: " + std::string(c.expected));
    }
}

TEST(AccessPolicyErrors, keysAreEscapedInMessages) {
    EXPECT_CONTAINS(parse_error("\"bad\\u0001key\" = 1\n"), "unknown top-level key 'bad\\x01key'");
}

// ---- Loading files -------------------------------------------------------------------------

TEST(AccessPolicyLoad, missingFileErrorNamesThePath) {
    const std::string path = "/nonexistent-ipcbus-dir/ipcbusd.toml";
    auto policy = AccessPolicy::load(path);
    ASSERT_FALSE(policy);
    EXPECT_EQ(policy.error().code, ErrorCode::system_error);
    EXPECT_CONTAINS(policy.error().message, path);
    EXPECT_CONTAINS(policy.error().message, "No such file or directory");
}

TEST(AccessPolicyLoad, directoryIsNotReadable) {
    auto policy = AccessPolicy::load("/tmp");
    ASSERT_FALSE(policy);
    EXPECT_EQ(policy.error().code, ErrorCode::system_error);
    EXPECT_CONTAINS(policy.error().message, "/tmp: cannot read");
}

TEST(AccessPolicyLoad, loadsAConfigFile) {
    const TempFile file(full_config);
    auto policy = AccessPolicy::load(file.path());
    ASSERT_TRUE(policy) << policy.error().message;
    EXPECT_EQ(policy->rules().size(), 2U);
    EXPECT_EQ(policy->limits().max_topics, 10U);
}

TEST(AccessPolicyLoad, errorsInAFileNameThePathAndLine) {
    const TempFile file("[limits]\nmax_topics = 1\nbogus = 2\n");
    auto policy = AccessPolicy::load(file.path());
    ASSERT_FALSE(policy);
    EXPECT_EQ(policy.error().code, ErrorCode::invalid_argument);
    EXPECT_CONTAINS(policy.error().message, file.path() + ":3: unknown key 'bogus' in [limits]");
}

// ---- Wildcard matching ---------------------------------------------------------------------

TEST(TopicMatches, followsTheWildcardTable) {
    struct Case {
        const char* pattern;
        const char* topic;
        bool matches;
    };
    const Case cases[] = {
        {"a/b", "a/b", true},
        {"a/b", "a/c", false},
        {"a/b", "a", false},
        {"a", "a/b", false},
        {"a/b", "a/bc", false},
        {"ab", "a", false},
        {"*", "a", true},
        {"*", "a/b", false},
        {"a/*", "a", false},
        {"a/*", "a/b", true},
        {"a/*", "a/b/c", false},
        {"*/b", "x/b", true},
        {"sensors/*/imu", "sensors/left/imu", true},
        {"sensors/*/imu", "sensors/imu", false},
        {"sensors/*/imu", "sensors/a/b/imu", false},
        {"**", "a", true},
        {"**", "a/b/c", true},
        {"robot/**", "robot", true},
        {"robot/**", "robot/a", true},
        {"robot/**", "robot/a/b", true},
        {"robot/**", "robots/a", false},
        {"robot/**", "other/robot", false},
        {"**/z", "z", true},
        {"**/z", "a/b/z", true},
        {"**/z", "a/z/b", false},
        {"a/**/z", "a/z", true},
        {"a/**/z", "a/b/z", true},
        {"a/**/z", "a/b/c/z", true},
        {"a/**/z", "a/z/z", true},
        {"a/**/z", "a/b/c", false},
        {"a/**/z", "b/a/z", false},
        {"a/**/z", "a/z/b", false},
        {"**/b/**", "b", true},
        {"**/b/**", "a/b/c", true},
        {"**/b/**", "a/c", false},
        {"a/**/b/*/c", "a/x/b/y/b/z/c", true},
        {"a/**/b/*/c", "a/b/b/c", true},
        {"a/**/b/*/c", "a/b/c", false},
        {"**/**", "a", true},
        {"*/**", "a", true},
        {"**/*", "a/b", true},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(topic_matches(c.pattern, c.topic), c.matches)
            << "pattern '" << c.pattern << "', topic '" << c.topic << "'";
    }
}

TEST(TopicMatches, neverMatchesAnEmptyTopic) {
    EXPECT_FALSE(topic_matches("**", ""));
    EXPECT_FALSE(topic_matches("*", ""));
    EXPECT_FALSE(topic_matches("", ""));
    EXPECT_FALSE(topic_matches("", "a"));
}

TEST(TopicMatches, isNoexceptAndNeverBacktracksExponentially) {
    static_assert(noexcept(topic_matches("a", "a")));
    // Many '**' against a long topic must still finish quickly (no exponential backtracking).
    std::string pattern;
    for (int i = 0; i < 20; ++i) pattern += "**/x/";
    pattern += "y";
    std::string topic;
    for (int i = 0; i < 60; ++i) topic += "x/";
    topic += "z";
    EXPECT_FALSE(topic_matches(pattern, topic));
}

TEST(ValidatePattern, acceptsTopicsAndWildcardLevels) {
    for (const char* pattern : {"a", "a/b.c/d-e_f", "*", "**", "a/*/b", "a/**", "**/a", "*/**"}) {
        EXPECT_TRUE(validate_pattern(pattern)) << pattern;
    }
    EXPECT_TRUE(validate_pattern(std::string(127, 'x')));
}

TEST(ValidatePattern, rejectsMalformedPatternsWithAReason) {
    struct Case {
        std::string pattern;
        const char* reason;
    };
    const Case cases[] = {
        {"", "empty"},
        {"a//b", "empty level"},
        {"/a", "empty level"},
        {"a/", "empty level"},
        {".", "'.' or '..'"},
        {"a/../b", "'.' or '..'"},
        {"a*", "must be a whole level"},
        {"***", "must be a whole level"},
        {"a+b", "only letters"},
        {std::string("a\0b", 3), "only letters"},
        {std::string(128, 'x'), "longer than 127"},
    };
    for (const Case& c : cases) {
        auto result = validate_pattern(c.pattern);
        ASSERT_FALSE(result) << c.pattern;
        EXPECT_EQ(result.error().code, ErrorCode::invalid_argument);
        EXPECT_CONTAINS(result.error().message, c.reason);
    }
}

// ---- Allow / deny --------------------------------------------------------------------------

constexpr std::string_view acl_config = R"(
[[topic]]
pattern = "uid/**"
publish_uids = [1000]
[[topic]]
pattern = "gid/**"
publish_gids = [2000]
[[topic]]
pattern = "both/**"
publish_uids = [1000]
publish_gids = [2000]
[[topic]]
pattern = "nobody/**"
publish_uids = []
subscribe_uids = []
subscribe_gids = []
[[topic]]
pattern = "nobody-by-gid/**"
subscribe_uids = [1000]
subscribe_gids = []
[[topic]]
pattern = "open/**"
capacity = 8
)";

TEST(AccessPolicyAllows, allowsAndDeniesByUid) {
    const AccessPolicy policy = parse_ok(acl_config);
    EXPECT_TRUE(policy.allows("uid/t", Access::publish, 1000, {5}));
    EXPECT_FALSE(policy.allows("uid/t", Access::publish, 1001, {5}));
    EXPECT_FALSE(policy.allows("uid/t", Access::publish, 1001, {1000}))
        << "a gid equal to an allowed uid must not count";
}

TEST(AccessPolicyAllows, allowsAndDeniesByPrimaryGid) {
    const AccessPolicy policy = parse_ok(acl_config);
    EXPECT_TRUE(policy.allows("gid/t", Access::publish, 1, {2000}));
    EXPECT_FALSE(policy.allows("gid/t", Access::publish, 1, {2001}));
    EXPECT_FALSE(policy.allows("gid/t", Access::publish, 2000, {2001}))
        << "a uid equal to an allowed gid must not count";
    EXPECT_FALSE(policy.allows("gid/t", Access::publish, 1, {}));
}

TEST(AccessPolicyAllows, allowsBySupplementaryGid) {
    const AccessPolicy policy = parse_ok(acl_config);
    EXPECT_TRUE(policy.allows("gid/t", Access::publish, 1, {100, 300, 2000}));
    EXPECT_FALSE(policy.allows("gid/t", Access::publish, 1, {100, 300, 400}));
}

TEST(AccessPolicyAllows, eitherUidOrGidSufficesWhenBothListsExist) {
    const AccessPolicy policy = parse_ok(acl_config);
    EXPECT_TRUE(policy.allows("both/t", Access::publish, 1000, {1}));
    EXPECT_TRUE(policy.allows("both/t", Access::publish, 1, {1, 2000}));
    EXPECT_FALSE(policy.allows("both/t", Access::publish, 1, {1, 2}));
}

TEST(AccessPolicyAllows, emptyListDeniesEveryoneOfThatKind) {
    const AccessPolicy policy = parse_ok(acl_config);
    EXPECT_FALSE(policy.allows("nobody/t", Access::publish, 0, {0}));
    EXPECT_FALSE(policy.allows("nobody/t", Access::subscribe, 1000, {2000}));
    EXPECT_TRUE(policy.allows("nobody-by-gid/t", Access::subscribe, 1000, {}));
    EXPECT_FALSE(policy.allows("nobody-by-gid/t", Access::subscribe, 1001, {1000, 2000}));
}

TEST(AccessPolicyAllows, rootIsNotSpecial) {
    const AccessPolicy policy = parse_ok(acl_config);
    EXPECT_FALSE(policy.allows("uid/t", Access::publish, 0, {0}));
    EXPECT_FALSE(policy.allows("gid/t", Access::publish, 0, {0}));
}

TEST(AccessPolicyAllows, publishAndSubscribeAreRestrictedSeparately) {
    const AccessPolicy policy = parse_ok(acl_config);
    EXPECT_FALSE(policy.allows("uid/t", Access::publish, 7, {7}));
    EXPECT_TRUE(policy.allows("uid/t", Access::subscribe, 7, {7}));
    EXPECT_TRUE(policy.allows("nobody-by-gid/t", Access::publish, 7, {7}));
}

TEST(AccessPolicyAllows, ruleWithoutListsOrNoRuleAllowsEveryone) {
    const AccessPolicy policy = parse_ok(acl_config);
    EXPECT_TRUE(policy.allows("open/t", Access::publish, 7, {}));
    EXPECT_TRUE(policy.allows("open/t", Access::subscribe, 7, {}));
    EXPECT_EQ(policy.rule_for("elsewhere"), nullptr);
    EXPECT_TRUE(policy.allows("elsewhere", Access::publish, 7, {}));
}

}  // namespace
}  // namespace ipcbusd

namespace {

// The example shipped next to the daemon must stay a valid configuration.
TEST(AccessPolicyExample, shippedExampleConfigurationLoads) {
    auto policy = ipcbusd::AccessPolicy::load(IPCBUS_SOURCE_DIR "/packaging/ipcbusd.example.toml");
    ASSERT_TRUE(policy) << policy.error().message;
    EXPECT_EQ(policy->rules().size(), 3U);
    EXPECT_TRUE(policy->rules()[2].keep);
    EXPECT_FALSE(policy->allows("trading/orders/new", ipcbusd::Access::publish, 1000, {1000}));
    EXPECT_TRUE(policy->allows("trading/orders/new", ipcbusd::Access::publish, 1001, {1001}));
    EXPECT_TRUE(policy->allows("weather/today", ipcbusd::Access::publish, 1000, {1000}));
}

}  // namespace

namespace {

// Regression (fuzz/crashes/fuzz_config-2): toml++ 3.3 reaches an "unreachable" point on
// non-ASCII characters outside strings; such text must be refused before it gets there.
TEST(AccessPolicyErrors, nonAsciiTextIsRefusedWithItsLine) {
    for (const char* text :
         {"\xcf\x80", "[limits]\nmax_topics = 3\n\xc3\xa9 = 1\n", "# caf\xc3\xa9\n"}) {
        auto policy = ipcbusd::AccessPolicy::parse(text, "cfg.toml");
        ASSERT_FALSE(policy) << text;
        EXPECT_NE(policy.error().message.find("non-ASCII character"), std::string::npos)
            << policy.error().message;
    }
    auto third =
        ipcbusd::AccessPolicy::parse("[limits]\nmax_topics = 3\n\xc3\xa9 = 1\n", "cfg.toml");
    EXPECT_NE(third.error().message.find("cfg.toml:3:"), std::string::npos)
        << third.error().message;
}

}  // namespace

namespace {

TEST(AccessPolicy, keepFlagIsReadAndMustBeABoolean) {
    auto policy = ipcbusd::AccessPolicy::parse("[[topic]]\npattern = \"a/**\"\nkeep = true\n");
    ASSERT_TRUE(policy) << policy.error().message;
    EXPECT_TRUE(policy->rules()[0].keep);
    auto bad = ipcbusd::AccessPolicy::parse("[[topic]]\npattern = \"a\"\nkeep = 1\n", "c.toml");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("'keep' must be true or false"), std::string::npos)
        << bad.error().message;
}

}  // namespace

namespace {

// Regression (fuzz_config): the smallest 64-bit integer made the power-of-two check overflow.
TEST(AccessPolicyErrors, extremeIntegersAreOutOfRangeNotOverflow) {
    for (const char* value : {"-9223372036854775808", "9223372036854775807", "-1", "0"}) {
        const std::string text =
            std::string("[[topic]]\npattern = \"a\"\ncapacity = ") + value + "\n";
        auto policy = ipcbusd::AccessPolicy::parse(text, "c.toml");
        ASSERT_FALSE(policy) << value;
        EXPECT_NE(policy.error().message.find("'capacity' must be"), std::string::npos)
            << policy.error().message;
    }
}

}  // namespace
