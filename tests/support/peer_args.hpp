// SPDX-License-Identifier: Apache-2.0
// Command lines of the test peers that take "ROLE DOMAIN TOPIC key=value ...": parsing,
// typed look-ups with defaults, and the one way a peer reports an error ("error ..." on
// stdout, exit code 2), which the tests wait for like any other line.
#pragma once

#include <unistd.h>

#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ipcbus/node.hpp"

namespace ipcbus::test {

struct PeerArgs {
    std::map<std::string, std::string> values;

    [[nodiscard]] std::string text(const std::string& key, const std::string& fallback) const {
        const auto it = values.find(key);
        return it == values.end() ? fallback : it->second;
    }
    [[nodiscard]] long long number(const std::string& key, long long fallback) const {
        const auto it = values.find(key);
        return it == values.end() ? fallback : std::stoll(it->second);
    }

    /// The key=value words from `first` on; nullopt (after saying why) if one is not.
    static std::optional<PeerArgs> parse(const std::vector<std::string>& words, std::size_t first) {
        PeerArgs args;
        for (std::size_t i = first; i < words.size(); ++i) {
            const auto eq = words[i].find('=');
            if (eq == std::string::npos) {
                std::cout << "error not key=value: " << words[i] << std::endl;
                return std::nullopt;
            }
            args.values[words[i].substr(0, eq)] = words[i].substr(eq + 1);
        }
        return args;
    }
};

inline int peer_fail(const std::string& what) {
    std::cout << "error " << what << std::endl;
    return 2;
}

/// What a peer does in one role, on TOPIC of the node's domain.
using PeerRole = int (*)(const Node& node, const std::string& topic, const PeerArgs& args);

/// The whole main() of a peer: "ROLE DOMAIN TOPIC key=value ...", dispatched to `roles`.
inline int run_peer(int argc, char** argv,
                    std::initializer_list<std::pair<std::string_view, PeerRole>> roles) {
    const std::vector<std::string> words(argv + 1, argv + argc);
    if (words.size() < 3) return peer_fail("usage: ROLE DOMAIN TOPIC [key=value ...]");
    const auto args = PeerArgs::parse(words, 3);
    if (!args) return 2;
    // deadline_s=N: a peer that is still running after N seconds dies of SIGALRM, so a
    // test waiting for its output sees end of file (and fails) instead of hanging.
    if (const long long deadline = args->number("deadline_s", 0); deadline > 0) {
        ::alarm(static_cast<unsigned>(deadline));
    }
    auto node = Node::create({words[1]});
    if (!node) return peer_fail(node.error().message);
    for (const auto& [name, role] : roles) {
        if (words[0] == name) return role(*node, words[2], *args);
    }
    return peer_fail("unknown role " + words[0]);
}

}  // namespace ipcbus::test
