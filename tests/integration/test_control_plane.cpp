// SPDX-License-Identifier: Apache-2.0
// The control plane around the daemon: the state an autostarted daemon must not inherit
// from its client, and (below) who a client accepts as its daemon. Real processes: the
// daemon under test is started by a peer process, as users' programs start it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "ipc/unix_socket.hpp"
#include "ipcbus/ipcbus.hpp"
#include "protocol.hpp"
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

// --- Who a client accepts as its daemon -------------------------------------------------

constexpr const char* kNobody = "65534";

#define REQUIRE_ROOT() \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root, to run a daemon as another user"

std::vector<std::string> as_nobody(std::vector<std::string> argv) {
    argv.insert(argv.begin(),
                {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
    return argv;
}

// The test peer with `role` and its arguments, its environment extended by `env`. It
// starts no daemon unless `env` says IPCBUS_NO_AUTOSTART=0.
std::vector<std::string> peer(const std::vector<std::string>& env,
                              const std::vector<std::string>& args) {
    std::vector<std::string> argv{"/usr/bin/env", "IPCBUS_NO_AUTOSTART=1"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(peer_path());
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

// Lines of `peer list` (or its error), up to and including "end".
std::vector<std::string> listing(const std::vector<std::string>& env, const std::string& domain,
                                 bool as_other_user = false) {
    auto argv = peer(env, {"list", domain, "-", "0", "0", "0"});
    ChildProcess lister(as_other_user ? as_nobody(argv) : argv);
    std::vector<std::string> lines;
    while (auto line = lister.read_line()) {
        lines.push_back(*line);
        if (*line == "end" || line->starts_with("error ")) break;
    }
    lister.wait();
    return lines;
}

// A daemon for `domain` that another user started: the impostor of issue 16.
std::unique_ptr<ChildProcess> start_impostor(const std::string& domain,
                                             const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{ipcbus::test::daemon_path(), "--domain", domain, "--log-level",
                                  "error"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto daemon = std::make_unique<ChildProcess>(as_nobody(argv));
    if (daemon->read_line() != "ready") return nullptr;
    return daemon;
}

// A private directory for socket files, removed at the end.
struct SocketDir {
    std::string path;
    SocketDir() {
        char name[] = "/tmp/ipcbus-sockets-XXXXXX";
        if (::mkdtemp(name) != nullptr) path = name;
    }
    ~SocketDir() { std::filesystem::remove_all(path); }
};

std::string joined(const std::vector<std::string>& lines) {
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    return all;
}

TEST(DaemonAuthenticity, clientRefusesADaemonOfAnUntrustedUserAndStartsNoneInItsPlace) {
    REQUIRE_ROOT();
    const std::string domain = ipcbus::test::unique_domain();
    auto impostor = start_impostor(domain);
    ASSERT_TRUE(impostor);
    const auto lines = listing({}, domain);
    ASSERT_EQ(lines.size(), 1u) << joined(lines);
    EXPECT_TRUE(lines[0].starts_with("error ")) << lines[0];
    for (const char* words : {"uid 65534", "impersonating", "IPCBUS_DAEMON_USER", "refusing"}) {
        EXPECT_NE(lines[0].find(words), std::string::npos) << words << " in: " << lines[0];
    }
    EXPECT_EQ(daemon_pid(domain), impostor->pid()) << "the impostor serves on, alone";
}

TEST(DaemonAuthenticity, clientTrustsADaemonUserNamedInIpcbusDaemonUser) {
    REQUIRE_ROOT();
    const std::string domain = ipcbus::test::unique_domain();
    auto daemon = start_impostor(domain);
    ASSERT_TRUE(daemon);
    const std::vector<std::string> trust{"IPCBUS_DAEMON_USER=daemon," + std::string(kNobody)};
    ChildProcess publisher(peer(trust, {"open-many", domain, "t", "1", "64", "16"}));
    ASSERT_EQ(publisher.read_line(), "ready");
    EXPECT_EQ(joined(listing(trust, domain)), "topic t/0 pubs 1\nend\n");
    publisher.close_stdin();
    EXPECT_EQ(publisher.wait(), 0);
}

TEST(DaemonAuthenticity, publisherGivesNothingToAnImpostorAfterItsDaemonCrashedAndSaysWhy) {
    REQUIRE_ROOT();
    const std::string domain = ipcbus::test::unique_domain();
    auto real = ipcbus::test::start_daemon(domain);
    ASSERT_TRUE(real);
    ChildProcess publisher(peer({}, {"report-problems", domain, "secure/x", "0", "64", "16"}));
    ASSERT_EQ(publisher.read_line(), "ready");
    real->kill_hard();
    auto impostor = start_impostor(domain);
    ASSERT_TRUE(impostor);

    publisher.write_line("problem");
    const auto problem = publisher.read_line();
    ASSERT_TRUE(problem.has_value());
    EXPECT_TRUE(problem->starts_with("problem permission_denied: ")) << *problem;
    EXPECT_NE(problem->find("uid 65534"), std::string::npos) << *problem;
    // Refused before re-registering: the impostor never saw the topic or its segment.
    EXPECT_EQ(joined(listing({"IPCBUS_DAEMON_USER=" + std::string(kNobody)}, domain)), "end\n");

    impostor->terminate();
    real = ipcbus::test::start_daemon(domain);
    ASSERT_TRUE(real);
    EXPECT_TRUE(ipcbus::test::eventually([&] {
        return joined(listing({}, domain)) == "topic secure/x pubs 1\nend\n";
    })) << "the publisher came back to the real daemon";
    publisher.close_stdin();
    EXPECT_EQ(publisher.wait(), 0);
}

TEST(DaemonAuthenticity, daemonServesItsSocketFileBesideAnImpostorHoldingTheAbstractName) {
    REQUIRE_ROOT();
    const std::string domain = ipcbus::test::unique_domain();
    SocketDir dir;
    ASSERT_FALSE(dir.path.empty());
    auto impostor = start_impostor(domain);
    ASSERT_TRUE(impostor);
    auto real = ipcbus::test::start_daemon(domain, {"--socket-dir", dir.path});
    ASSERT_TRUE(real) << "the impostor's abstract name must not keep the real daemon out";
    const std::vector<std::string> here{"IPCBUS_SOCKET_DIR=" + dir.path};
    ChildProcess publisher(peer(here, {"open-many", domain, "t", "1", "64", "16"}));
    ASSERT_EQ(publisher.read_line(), "ready");
    EXPECT_EQ(joined(listing(here, domain)), "topic t/0 pubs 1\nend\n");

    // The directory's lock, not the socket file, says who serves the domain.
    ChildProcess second({ipcbus::test::daemon_path(), "--domain", domain, "--socket-dir", dir.path,
                         "--no-abstract"});
    EXPECT_NE(second.read_line(), "ready") << "a second daemon on the same socket file";
    EXPECT_EQ(second.wait(), 3);
    publisher.close_stdin();
    EXPECT_EQ(publisher.wait(), 0);
    real->kill_hard();  // leaves its socket file behind
    real = ipcbus::test::start_daemon(domain, {"--socket-dir", dir.path, "--no-abstract"});
    ASSERT_TRUE(real) << "a crashed daemon's socket file must not keep its successor out";
    EXPECT_EQ(joined(listing(here, domain)), "end\n");
    real->terminate();
    EXPECT_FALSE(std::filesystem::exists(dir.path + "/" + domain + ".sock"));
}

TEST(DaemonAuthenticity, socketActivatedDaemonIsTrustedThoughItRunsAsAnotherUser) {
    REQUIRE_ROOT();
    const char* activate = "/usr/bin/systemd-socket-activate";
    ASSERT_EQ(::access(activate, X_OK), 0) << "install Debian's systemd package";
    const std::string domain = ipcbus::test::unique_domain();
    SocketDir dir;
    ::chmod(dir.path.c_str(), 0777);  // the daemon's user keeps its lock there
    const std::string socket = dir.path + "/" + domain + ".sock";
    // As a .socket unit does: root creates the socket, the daemon runs as its own user,
    // and SO_PEERCRED shows clients the socket's creator.
    std::vector<std::string> argv{activate, "--seqpacket", "-l", socket};
    for (auto& a : as_nobody({ipcbus::test::daemon_path(), "--domain", domain, "--socket-dir",
                              dir.path, "--log-level", "warn"})) {
        argv.push_back(a);
    }
    ChildProcess daemon(argv);
    // The first connection starts the daemon; until the socket listens, there is nothing
    // else to wait on.
    ASSERT_TRUE(ipcbus::test::eventually(
        [&] { return static_cast<bool>(ipcbus::detail::connect_seqpacket(socket)); }));
    ASSERT_EQ(daemon.read_line(), "ready");
    EXPECT_EQ(status_field(daemon.pid(), "Uid").substr(0, 5), kNobody);
    EXPECT_FALSE(daemon_pid(domain).has_value()) << "an activated daemon binds nothing itself";

    const std::vector<std::string> here{"IPCBUS_SOCKET_DIR=" + dir.path};
    ChildProcess publisher(peer(here, {"open-many", domain, "t", "1", "64", "16"}));
    ASSERT_EQ(publisher.read_line(), "ready");
    EXPECT_EQ(joined(listing(here, domain)), "topic t/0 pubs 1\nend\n");
    ChildProcess by_hand({ipcbus::test::daemon_path(), "--domain", domain, "--socket-dir", dir.path,
                          "--no-abstract"});
    EXPECT_NE(by_hand.read_line(), "ready")
        << "a daemon started by hand took over the activated socket";
    EXPECT_EQ(by_hand.wait(), 3);
    EXPECT_TRUE(std::filesystem::exists(socket));
    publisher.close_stdin();
    EXPECT_EQ(publisher.wait(), 0);
    EXPECT_EQ(daemon.terminate(), 0);
}

TEST(DaemonAuthenticity, daemonAutostartedByOneUserIsRefusedByAnother) {
    REQUIRE_ROOT();
    const std::string domain = ipcbus::test::unique_domain();
    ChildProcess publisher(
        peer({"IPCBUS_NO_AUTOSTART=0", "IPCBUS_DAEMON=" + ipcbus::test::daemon_path()},
             {"open-many", domain, "t", "1", "64", "16"}));
    ASSERT_EQ(publisher.read_line(), "ready");  // root's client started a daemon as root
    const auto pid = daemon_pid(domain);
    ASSERT_TRUE(pid.has_value());
    const auto lines = listing({}, domain, /*as_other_user=*/true);
    ASSERT_EQ(lines.size(), 1u) << joined(lines);
    EXPECT_NE(lines[0].find("autostarted"), std::string::npos) << lines[0];
    publisher.close_stdin();
    EXPECT_EQ(publisher.wait(), 0);
    ASSERT_EQ(::kill(*pid, SIGTERM), 0);
    EXPECT_TRUE(exits_within(*pid, 10'000));
}

// --- Re-registration after a restart ----------------------------------------------------

TEST(Reregistration, topicRecreatedWhileTheDaemonWasAwayIsReportedAndItsOldHandleDropped) {
    const std::string domain = ipcbus::test::unique_domain();
    auto daemon = ipcbus::test::start_daemon(domain);
    ASSERT_TRUE(daemon);
    ChildProcess holder(peer({}, {"report-problems", domain, "t/a", "0", "64", "16"}));
    ASSERT_EQ(holder.read_line(), "ready");
    ASSERT_EQ(::kill(holder.pid(), SIGSTOP), 0);  // it cannot re-register before t/a is new
    ASSERT_TRUE(holder.wait_stopped());
    daemon->kill_hard();
    daemon = ipcbus::test::start_daemon(domain);
    ASSERT_TRUE(daemon);
    auto node = ipcbus::Node::create({domain});
    ASSERT_TRUE(node) << node.error().message;
    ipcbus::TopicOptions options;
    options.slot_size = 64;
    options.capacity = 32;
    auto fresh = ipcbus::RawPublisher::create(*node, "t/a", options);
    ASSERT_TRUE(fresh) << fresh.error().message;

    holder.resume();
    holder.write_line("problem");
    const auto problem = holder.read_line();
    ASSERT_TRUE(problem.has_value());
    EXPECT_NE(problem->find("topic 't/a' was not taken back by the restarted daemon"),
              std::string::npos)
        << *problem;
    // Closing its copy must close nothing of the new daemon's: not t/a, which is ours.
    holder.close_stdin();
    EXPECT_EQ(holder.wait(), 0);
    const auto topics = ipcbus::test::settled_topics(*node);
    ASSERT_EQ(topics.size(), 1u);
    EXPECT_EQ(topics[0].publishers, 1u);
}

// --- The recovery window: no split brain after a restart ---------------------------------

// How often the daemon behind `socket` has told an open of `topic` to retry (its "list").
std::uint64_t deferred_opens(const std::string& socket, const std::string& topic) {
    namespace d = ipcbus::detail;
    auto fd = d::connect_seqpacket(socket);
    std::string reply;
    std::vector<d::UniqueFd> fds;
    if (!fd || d::send_message(fd->get(), d::protocol::make_simple("list").dump()) != 0 ||
        d::recv_message(fd->get(), reply, fds) != d::RecvStatus::message) {
        return 0;
    }
    const auto body = nlohmann::json::parse(reply);
    for (const auto& entry : body.value("recovering", nlohmann::json::array())) {
        if (entry.at("topic") == topic) return entry.at("deferred_opens").get<std::uint64_t>();
    }
    return 0;
}

TEST(RecoveryWindow, publisherOpeningATopicBeforeItsHoldersReRegisteredJoinsTheirSegment) {
    const std::string domain = ipcbus::test::unique_domain();
    SocketDir dir;
    const std::vector<std::string> daemon_args{"--socket-dir", dir.path, "--no-abstract",
                                               "--recovery-window", "30"};
    auto daemon = ipcbus::test::start_daemon(domain, daemon_args);
    ASSERT_TRUE(daemon);
    const std::vector<std::string> here{"IPCBUS_SOCKET_DIR=" + dir.path};
    ChildProcess holder(peer(here, {"report-problems", domain, "t/a", "0", "64", "16"}));
    ASSERT_EQ(holder.read_line(), "ready");
    ASSERT_EQ(::kill(holder.pid(), SIGSTOP), 0);  // as slow to re-register as it likes
    ASSERT_TRUE(holder.wait_stopped());
    daemon->kill_hard();
    daemon = ipcbus::test::start_daemon(domain, daemon_args);
    ASSERT_TRUE(daemon);

    // Opened while t/a's holder has not re-registered: without the window it would create
    // a second t/a, and the running publisher would reach no one who opens it from now on.
    // Only the previous daemon's topics wait: t/0 is new.
    ChildProcess newcomer(peer(here, {"open-many", domain, "t", "1", "64", "16"}));
    ASSERT_EQ(newcomer.read_line(), "ready");
    ChildProcess late(peer(here, {"report-problems", domain, "t/a", "0", "64", "16"}));
    const std::string socket = dir.path + "/" + domain + ".sock";
    ASSERT_TRUE(ipcbus::test::eventually([&] { return deferred_opens(socket, "t/a") > 0; }))
        << "the daemon never told the late publisher to wait";
    holder.resume();
    ASSERT_EQ(late.read_line(), "ready");
    EXPECT_EQ(joined(listing(here, domain)), "topic t/0 pubs 1\ntopic t/a pubs 2\nend\n");
    newcomer.close_stdin();
    EXPECT_EQ(newcomer.wait(), 0);
    late.close_stdin();
    EXPECT_EQ(late.wait(), 0);
    holder.close_stdin();
    EXPECT_EQ(holder.wait(), 0);
}

TEST(RecoveryWindow, topicWhoseHolderDiedWhileNoDaemonRanIsCreatedAnewWhenTheWindowEnds) {
    const std::string domain = ipcbus::test::unique_domain();
    SocketDir dir;
    const std::vector<std::string> daemon_args{"--socket-dir", dir.path, "--no-abstract",
                                               "--recovery-window", "0.05"};
    auto daemon = ipcbus::test::start_daemon(domain, daemon_args);
    ASSERT_TRUE(daemon);
    const std::vector<std::string> here{"IPCBUS_SOCKET_DIR=" + dir.path};
    ChildProcess holder(peer(here, {"report-problems", domain, "t/a", "0", "64", "16"}));
    ASSERT_EQ(holder.read_line(), "ready");
    ASSERT_EQ(::kill(holder.pid(), SIGSTOP), 0);
    ASSERT_TRUE(holder.wait_stopped());
    daemon->kill_hard();
    holder.kill_hard();
    daemon = ipcbus::test::start_daemon(domain, daemon_args);
    ASSERT_TRUE(daemon);
    ChildProcess successor(peer(here, {"report-problems", domain, "t/a", "0", "64", "16"}));
    EXPECT_EQ(successor.read_line(), "ready");
    EXPECT_EQ(joined(listing(here, domain)), "topic t/a pubs 1\nend\n");
    successor.close_stdin();
    EXPECT_EQ(successor.wait(), 0);
}

// --- Exhaustion -------------------------------------------------------------------------

TEST(ConnectionLimits, oneUserCannotLockOutAnotherAndTheRefusedAreToldWhich) {
    REQUIRE_ROOT();
    const std::string domain = ipcbus::test::unique_domain();
    SocketDir dir;
    const std::string config = dir.path + "/limits.toml";
    std::ofstream(config) << "[limits]\nmax_clients = 6\nmax_clients_per_uid = 3\n";
    auto daemon = ipcbus::test::start_daemon(domain, {"--config", config});
    ASSERT_TRUE(daemon);
    const std::vector<std::string> idle{"open-many", domain, "t", "0", "64", "16"};
    std::vector<std::unique_ptr<ChildProcess>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<ChildProcess>(as_nobody(peer({}, idle))));
        ASSERT_EQ(held.back()->read_line(), "ready");
    }
    ChildProcess greedy(as_nobody(peer({}, idle)));
    const auto refused = greedy.read_line();
    ASSERT_TRUE(refused.has_value());
    EXPECT_TRUE(refused->starts_with("error ")) << *refused;
    EXPECT_NE(refused->find("uid 65534 holds 3 connections"), std::string::npos) << *refused;
    EXPECT_NE(refused->find("max_clients_per_uid"), std::string::npos) << *refused;
    EXPECT_EQ(refused->find("connection lost"), std::string::npos) << *refused;

    // Another user still gets in, up to the daemon's total.
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<ChildProcess>(peer({}, idle)));
        ASSERT_EQ(held.back()->read_line(), "ready") << "root, connection " << i;
    }
    ChildProcess seventh(peer({}, idle));
    const auto full = seventh.read_line();
    ASSERT_TRUE(full.has_value());
    EXPECT_NE(full->find("daemon client limit reached: 6 connections (max_clients"),
              std::string::npos)
        << *full;
    for (auto& p : held) p->close_stdin();
    for (auto& p : held) EXPECT_EQ(p->wait(), 0);
}

TEST(TopicMetadata, userWhoMayNeitherPublishNorSubscribeDoesNotSeeTheTopic) {
    REQUIRE_ROOT();
    const std::string domain = ipcbus::test::unique_domain();
    SocketDir dir;
    const std::string config = dir.path + "/rules.toml";
    std::ofstream(config) << "[[topic]]\npattern = \"secure/**\"\npublish_uids = [0]\n"
                             "subscribe_uids = [0]\n";
    auto daemon = ipcbus::test::start_daemon(domain, {"--config", config});
    ASSERT_TRUE(daemon);
    ChildProcess secure(peer({}, {"open-many", domain, "secure", "1", "64", "16"}));
    ASSERT_EQ(secure.read_line(), "ready");
    ChildProcess open(peer({}, {"open-many", domain, "public", "1", "64", "16"}));
    ASSERT_EQ(open.read_line(), "ready");
    EXPECT_EQ(joined(listing({}, domain)), "topic public/0 pubs 1\ntopic secure/0 pubs 1\nend\n");
    EXPECT_EQ(joined(listing({}, domain, /*as_other_user=*/true)), "topic public/0 pubs 1\nend\n")
        << "its reader pids and counts are for those allowed to use it";
    secure.close_stdin();
    open.close_stdin();
    EXPECT_EQ(secure.wait(), 0);
    EXPECT_EQ(open.wait(), 0);
}

}  // namespace
