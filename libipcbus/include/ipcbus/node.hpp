// A Node is a process's handle on one bus domain. The domain is a name that prefixes
// every shared-memory object ipcbus creates, so separate domains (separate test runs
// included) never see each other.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ipcbus/result.hpp"

namespace ipcbus {

struct NodeOptions {
    /// Bus domain: 1-32 characters of [A-Za-z0-9_-]. Empty: $IPCBUS_DOMAIN, else "default".
    std::string domain;
};

/// The domain a Node gets when NodeOptions::domain is empty. Thread-safe.
std::string default_domain();

class Node {
  public:
    /// Setup: validates the domain name. Thread-safe.
    static Result<Node> create(NodeOptions options = {});

    /// The domain this node works in. Thread-safe.
    [[nodiscard]] const std::string& domain() const noexcept { return domain_; }

  private:
    explicit Node(std::string domain) : domain_(std::move(domain)) {}
    std::string domain_;
};

/// Names of the shared-memory objects of a domain that exist now (as listed in /dev/shm).
/// Used by tests and tools to prove nothing is left behind. Thread-safe.
std::vector<std::string> list_segments(std::string_view domain);

/// Removes every shared-memory object of a domain, e.g. after processes crashed. Processes
/// still attached keep their mappings; new openers create fresh segments. Thread-safe.
Result<std::size_t> remove_segments(std::string_view domain);

}  // namespace ipcbus
