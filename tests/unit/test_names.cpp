// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <string>

#include "names.hpp"

namespace ipcbus::detail {
namespace {

TEST(Names, acceptsHierarchicalTopics) {
    for (const char* topic : {"a", "market/ticks", "robot-1/camera_front/rgb", "v1.2/x"}) {
        EXPECT_TRUE(validate_topic_name(topic)) << topic;
    }
}

TEST(Names, rejectsPathTricksAndBadCharacters) {
    const std::string with_nul("ab\0cd", 5);
    for (const std::string& topic :
         {std::string(""), std::string("/abs"), std::string("trailing/"), std::string("a//b"),
          std::string(".."), std::string("a/../b"), std::string("./a"), std::string("a b"),
          std::string("a+b"), std::string("a\\b"), std::string("caf\xc3\xa9"), with_nul}) {
        auto r = validate_topic_name(topic);
        ASSERT_FALSE(r) << topic;
        EXPECT_EQ(r.error().code, ErrorCode::invalid_name);
        EXPECT_NE(r.error().message.find("invalid name"), std::string::npos);
    }
}

TEST(Names, rejectsOverLongTopics) {
    EXPECT_TRUE(validate_topic_name(std::string(127, 'x')));
    auto r = validate_topic_name(std::string(128, 'x'));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("longer than 127"), std::string::npos);
}

TEST(Names, errorMessagesShowNonPrintableBytesEscaped) {
    auto r = validate_topic_name(std::string("a\0b", 3));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("a\\x00b"), std::string::npos) << r.error().message;
}

TEST(Names, validatesDomains) {
    EXPECT_TRUE(validate_domain_name("default"));
    EXPECT_TRUE(validate_domain_name("test_12-x"));
    EXPECT_FALSE(validate_domain_name(""));
    EXPECT_FALSE(validate_domain_name("a.b"));
    EXPECT_FALSE(validate_domain_name("a/b"));
    EXPECT_FALSE(validate_domain_name(std::string(33, 'd')));
}

}  // namespace
}  // namespace ipcbus::detail
