// SPDX-License-Identifier: Apache-2.0
// Expected and Result as users meet them: value() on an error ends the program with the
// error's message instead of a segmentation fault (the README's `.value()` pattern with no
// daemon reachable), and the std::expected-style helpers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "ipcbus/ipcbus.hpp"

namespace {

using ipcbus::Error;
using ipcbus::ErrorCode;
using ipcbus::Expected;
using ipcbus::LoanError;
using ipcbus::Result;

Result<int> parsed(bool ok) {
    if (ok) return 42;
    return Error{ErrorCode::invalid_argument, "the answer is missing"};
}

TEST(ResultDeathTest, valueOfAnErrorAbortsWithItsMessage) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH((void)parsed(false).value(),
                 "ipcbus: value\\(\\) on an error: the answer is missing");
    EXPECT_DEATH((void)*parsed(false), "operator\\* on an error: the answer is missing");
}

TEST(ResultDeathTest, hotPathErrorsAbortWithTheirName) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    Expected<std::uint64_t, LoanError> blocked = LoanError::would_block;
    EXPECT_DEATH((void)blocked.value(), "on an error: would_block");
}

TEST(ResultDeathTest, errorOfAValueAborts) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH((void)parsed(true).error(), "ipcbus: error\\(\\) on a value: there is no error");
}

// The README's first line, with no daemon to be found: the reason, not SIGSEGV.
TEST(ResultDeathTest, nodeCreateValueWithoutADaemonSaysWhy) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            ::setenv("IPCBUS_DAEMON", "/nonexistent/ipcbusd", 1);
            ipcbus::NodeOptions options;
            options.domain = "t" + std::to_string(::getpid()) + "-nodaemon";
            (void)ipcbus::Node::create(options).value();
        },
        "ipcbus: value\\(\\) on an error: daemon not reachable for domain");
}

TEST(Result, valueOrGivesTheFallbackOnlyForAnError) {
    EXPECT_EQ(parsed(true).value_or(7), 42);
    EXPECT_EQ(parsed(false).value_or(7), 7);
}

TEST(Result, andThenChainsValuesAndPassesTheErrorOn) {
    auto twice = [](int v) -> Result<int> { return v * 2; };
    EXPECT_EQ(parsed(true).and_then(twice).value(), 84);
    auto failed = parsed(false).and_then(twice);
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code, ErrorCode::invalid_argument);
}

TEST(Result, transformMapsTheValueAndKeepsTheError) {
    auto text = parsed(true).transform([](int v) { return std::to_string(v); });
    EXPECT_EQ(text.value(), "42");
    auto failed = parsed(false).transform([](int v) { return std::to_string(v); });
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().message, "the answer is missing");
}

TEST(Result, errorsPrintWithTheirNames) {
    std::ostringstream out;
    out << LoanError::expired << ' ' << ipcbus::ReceiveError::corrupt_slot << ' '
        << Error{ErrorCode::timeout, "waited 2 s"};
    EXPECT_EQ(out.str(), "expired corrupt_slot timeout: waited 2 s");
}

}  // namespace
