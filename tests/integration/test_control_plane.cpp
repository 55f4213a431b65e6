// SPDX-License-Identifier: Apache-2.0
// The control plane around the daemon: the state an autostarted daemon must not inherit
// from its client, and (below) who a client accepts as its daemon. Real processes: the
// daemon under test is started by a peer process, as users' programs start it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "ipc/unix_socket.hpp"
#include "test_domain.hpp"

namespace {

using ipcbus::test::ChildProcess;
using ipcbus::test::peer_path;

// The pid of the process serving `domain` (the socket's owner, as the kernel reports it).
std::optional<pid_t> daemon_pid(const std::string& domain) {
    namespace d = ipcbus::detail;
    auto fd = d::connect_seqpacket(d::daemon_socket_name(domain));
    d::PeerCredentials cred;
    if (!fd || !d::peer_credentials(fd->get(), cred)) return std::nullopt;
    return cred.pid;
}

// One "Name:\tvalue" line of /proc/PID/status.
std::string status_field(pid_t pid, const std::string& name) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with(name + ":"))
            return line.substr(line.find_first_not_of(" \t:", name.size()));
    }
    return {};
}

std::uint64_t signal_bit(int sig) {
    return std::uint64_t{1} << (sig - 1);
}

// The soft "Max open files" of /proc/PID/limits.
std::uint64_t open_files_limit(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("Max open files")) {
            std::istringstream fields(line.substr(std::string("Max open files").size()));
            std::uint64_t soft = 0;
            fields >> soft;
            return soft;
        }
    }
    return 0;
}

bool port_is_free(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return bound;
}

// Waits (poll on a pidfd: no sleeping) up to `ms` for a process that is not our child.
bool exits_within(pid_t pid, int ms) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return errno == ESRCH;
    pollfd p{fd, POLLIN, 0};
    const bool gone = ::poll(&p, 1, ms) == 1;
    ::close(fd);
    return gone;
}

class AutostartHygiene : public ::testing::Test {
  protected:
    void SetUp() override {
        ::unsetenv("IPCBUS_NO_AUTOSTART");
        ::setenv("IPCBUS_DAEMON", ipcbus::test::daemon_path().c_str(), 1);
    }
    void TearDown() override { ::setenv("IPCBUS_NO_AUTOSTART", "1", 1); }
    std::string domain_ = ipcbus::test::unique_domain();
};

TEST_F(AutostartHygiene, daemonKeepsNoneOfItsStartersDescriptorsSignalsOrLimits) {
    ChildProcess starter({peer_path(), "dirty-start", domain_, "-", "0", "0", "0"});
    const auto line = starter.wait_for_line("port ");
    ASSERT_TRUE(line.has_value());
    const int port = std::stoi(line->substr(5));
    const auto pid = daemon_pid(domain_);
    ASSERT_TRUE(pid.has_value());
    ASSERT_NE(*pid, starter.pid());

    EXPECT_EQ(std::stoull(status_field(*pid, "SigBlk"), nullptr, 16), 0u) << "signal mask kept";
    const std::uint64_t ignored = std::stoull(status_field(*pid, "SigIgn"), nullptr, 16);
    EXPECT_EQ(ignored & signal_bit(SIGHUP), 0u) << "SIGHUP still ignored";
    EXPECT_GE(open_files_limit(*pid), 1024u + 256u) << "RLIMIT_NOFILE of the starter kept";

    starter.close_stdin();
    EXPECT_EQ(starter.wait(), 0);
    EXPECT_TRUE(port_is_free(port)) << "the daemon still holds its starter's TCP port " << port;
    ASSERT_EQ(::kill(*pid, SIGTERM), 0);
    EXPECT_TRUE(exits_within(*pid, 10'000)) << "the daemon ignores SIGTERM";
}

TEST(DaemonLimits, descriptorLimitBelowWhatTheTopicLimitNeedsIsRefusedWithTheFix) {
    // A hard limit the daemon cannot raise (it runs unprivileged: root could): it must
    // say so and stop, not run out of descriptors at the 300th topic.
    std::vector<std::string> argv{"/bin/sh", "-c",
                                  "ulimit -n 256 && ulimit -Hn 256 && exec \"$0\" --domain "
                                  "\"$1\" 2>&1",
                                  ipcbus::test::daemon_path(), ipcbus::test::unique_domain()};
    if (::geteuid() == 0) {
        argv.insert(argv.begin(),
                    {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
    }
    ChildProcess daemon(argv);
    const auto line = daemon.read_line();
    ASSERT_TRUE(line.has_value());
    EXPECT_NE(line->find("RLIMIT_NOFILE"), std::string::npos) << *line;
    EXPECT_NE(line->find("max_topics"), std::string::npos) << *line;
    EXPECT_EQ(daemon.wait(), 2);
}

}  // namespace
