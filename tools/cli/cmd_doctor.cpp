// SPDX-License-Identifier: Apache-2.0
// ipcbus doctor: checks what ipcbus needs from this machine and says how to fix what is
// missing.
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "ipcbus/version.hpp"

namespace ipcbus::cli {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kLowMemoryLimit = 256 * kMiB;
constexpr std::uint64_t kLowMemlock = 64 * kMiB;
constexpr rlim_t kLowOpenFiles = 1024;

enum class Status { ok, warn, fail };

struct Check {
    Status status;
    std::string message;
};

struct DoctorOptions {
    std::string domain;
    bool json = false;
};

struct KernelVersion {
    int major = 0;
    int minor = 0;
};

KernelVersion running_kernel(std::string& release) {
    utsname names{};
    ::uname(&names);
    release = names.release;
    KernelVersion version;
    std::sscanf(names.release, "%d.%d", &version.major, &version.minor);
    return version;
}

bool at_least(KernelVersion version, int major, int minor) {
    return version.major > major || (version.major == major && version.minor >= minor);
}

Check check_kernel() {
    std::string release;
    const KernelVersion version = running_kernel(release);
    if (!at_least(version, 3, 17)) {
        return {Status::fail, "kernel " + release +
                                  ": ipcbus needs Linux 3.17 or later (memfd_create); upgrade "
                                  "the kernel"};
    }
    return {Status::ok, "kernel " + release};
}

// Publishers commit without a fence and rely on sleeping readers to pay with one
// membarrier(2) (MEMBARRIER_CMD_PRIVATE_EXPEDITED, Linux 4.14): without it they fence
// every publish, and readers sleep in short slices.
Check check_membarrier() {
    constexpr int kQuery = 0;                    // MEMBARRIER_CMD_QUERY
    constexpr long kPrivateExpedited = 1L << 3;  // MEMBARRIER_CMD_PRIVATE_EXPEDITED
    const long supported = ::syscall(SYS_membarrier, kQuery, 0, 0);
    if (supported < 0) {
        return {Status::warn, fmt::format("membarrier: unavailable ({}): publishers fence every "
                                          "message and sleeping readers wake in slices; a kernel "
                                          "of 4.14 or later (and a seccomp policy allowing "
                                          "membarrier) removes that cost",
                                          std::strerror(errno))};
    }
    if ((supported & kPrivateExpedited) == 0) {
        return {Status::warn,
                "membarrier: the kernel lacks PRIVATE_EXPEDITED (Linux 4.14): "
                "publishers fence every message"};
    }
    return {Status::ok,
            "membarrier: private expedited available (publishers commit without a "
            "fence)"};
}

// A WaitSet sleeps on several topics at once with futex_waitv(2) (Linux 5.16); without it,
// it polls them in short slices.
Check check_futex_waitv() {
    constexpr long kFutexWaitv = 449;  // the same number on every architecture
    // No waiters and no flags: a kernel that has the call refuses the arguments (EINVAL);
    // one that has not says ENOSYS. Nothing sleeps either way.
    const long rc = ::syscall(kFutexWaitv, nullptr, 0, 0, nullptr, 0);
    if (rc < 0 && errno == ENOSYS) {
        return {Status::warn,
                "futex_waitv: unavailable (Linux 5.16 or later has it): a WaitSet "
                "over several topics wakes in slices instead of at once"};
    }
    return {Status::ok, "futex_waitv: available (a WaitSet sleeps on all its topics at once)"};
}

std::string read_first_line(const std::string& path) {
    std::ifstream file(path);
    std::string line;
    std::getline(file, line);
    return line;
}

// The cgroup v2 path of this process ("0::/user.slice/..."), empty if not on cgroup v2.
std::string own_cgroup() {
    std::ifstream file("/proc/self/cgroup");
    for (std::string line; std::getline(file, line);) {
        if (line.starts_with("0::")) return line.substr(3);
    }
    return {};
}

// The tightest memory.max from this process's cgroup up to the root (cgroup v2).
std::optional<std::pair<std::uint64_t, std::string>> memory_limit() {
    std::string path = own_cgroup();
    if (path.empty()) return std::nullopt;
    std::optional<std::pair<std::uint64_t, std::string>> tightest;
    for (;;) {
        const std::string value = read_first_line("/sys/fs/cgroup" + path + "/memory.max");
        if (!value.empty() && value != "max") {
            const std::uint64_t bytes = std::strtoull(value.c_str(), nullptr, 10);
            if (!tightest || bytes < tightest->first) tightest.emplace(bytes, path);
        }
        if (path.empty() || path == "/") break;
        const auto slash = path.rfind('/');
        path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
    }
    return tightest;
}

// Topic memory is shared memory, charged to the cgroup of the process that first touches
// each page (the publisher that creates and fills a topic): a container's limit must
// count its topics' rings.
Check check_memory_cgroup() {
    const auto limit = memory_limit();
    if (!limit) {
        return {Status::ok,
                "memory cgroup: no limit on this process (topic memory is charged "
                "to the cgroup of the process that first writes it)"};
    }
    const std::string text = fmt::format("memory cgroup {}: limit {}", limit->second,
                                         human_bytes(static_cast<double>(limit->first)));
    if (limit->first < kLowMemoryLimit) {
        return {Status::warn, text +
                                  ": topics this process creates are charged to it (a "
                                  "default topic of 4 KiB slots takes about 4 MiB); raise "
                                  "memory.max or make topics smaller"};
    }
    return {Status::ok, text + " (topics this process creates are charged to it)"};
}

// Where the packaged unit lives, if this machine has one.
std::optional<std::string> installed_unit() {
    for (const char* dir : {"/etc/systemd/system", "/usr/local/lib/systemd/system",
                            "/usr/lib/systemd/system", "/lib/systemd/system"}) {
        const std::string path = std::string(dir) + "/ipcbusd.service";
        if (::access(path.c_str(), R_OK) == 0) return path;
    }
    return std::nullopt;
}

Check check_systemd_unit() {
    const bool systemd_runs = ::access("/run/systemd/system", F_OK) == 0;
    const auto unit = installed_unit();
    if (!unit) {
        return {Status::ok, systemd_runs
                                ? "systemd unit ipcbusd.service: not installed (each domain's "
                                  "daemon is started by its first client, as that user)"
                                : "systemd: not running here (each domain's daemon is started "
                                  "by its first client, as that user)"};
    }
    if (!systemd_runs) {
        return {Status::warn, "systemd unit " + *unit +
                                  " is installed but systemd is not running: the unit's daemon "
                                  "does not start; clients start their own"};
    }
    return {Status::ok, "systemd unit " + *unit +
                            " installed (start it with: systemctl enable --now ipcbusd; client "
                            "services then set IPCBUS_NO_AUTOSTART=1 and After=ipcbusd.service)"};
}

std::string limit_text(rlim_t value) {
    return value == RLIM_INFINITY ? "unlimited" : std::to_string(value);
}

Check check_memlock() {
    rlimit limit{};
    ::getrlimit(RLIMIT_MEMLOCK, &limit);
    const std::string text =
        "locked-memory limit (RLIMIT_MEMLOCK) " +
        (limit.rlim_cur == RLIM_INFINITY ? "unlimited"
                                         : human_bytes(static_cast<double>(limit.rlim_cur)));
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < kLowMemlock) {
        return {Status::warn, text +
                                  ": programs that lock their memory (mlockall) for steady "
                                  "latency will fail to; raise it with ulimit -l, or "
                                  "LimitMEMLOCK= in a systemd unit"};
    }
    return {Status::ok, text};
}

Check check_open_files() {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    const std::string text = "open-files limit (RLIMIT_NOFILE) " + limit_text(limit.rlim_cur);
    if (limit.rlim_cur < kLowOpenFiles) {
        return {Status::warn, text +
                                  ": every topic a process opens holds a few descriptors; "
                                  "raise it with ulimit -n, or LimitNOFILE= in a systemd unit"};
    }
    return {Status::ok, text};
}

Check check_daemon(const std::string& domain) {
    auto node = Node::create({domain});
    if (!node) {
        return {Status::fail, node.error().message};
    }
    auto topics = node->list_topics();
    auto daemon = node->daemon_info();
    if (!topics || !daemon) {
        return {Status::fail, "daemon of domain '" + domain + "' connected but did not answer: " +
                                  (topics ? daemon.error() : topics.error()).message};
    }
    const std::string text =
        fmt::format("daemon of domain '{}' answers ({} topics): ipcbusd {} pid {} uid {}", domain,
                    topics->size(), daemon->version, daemon->pid, daemon->uid);
    if (daemon->version != ipcbus::version()) {
        return {Status::warn, text + fmt::format(", but this tool is {}: restart the daemon after "
                                                 "an upgrade (systemctl restart ipcbusd)",
                                                 ipcbus::version())};
    }
    return {Status::ok, text + " (the same version as this tool)"};
}

std::string_view status_word(Status status) {
    switch (status) {
        case Status::ok:
            return "ok";
        case Status::warn:
            return "warn";
        case Status::fail:
            return "fail";
    }
    return "?";
}

int run_doctor(const DoctorOptions& options) {
    const std::vector<std::pair<const char*, Check>> checks{
        {"kernel", check_kernel()},           {"membarrier", check_membarrier()},
        {"futex_waitv", check_futex_waitv()}, {"memory_cgroup", check_memory_cgroup()},
        {"memlock", check_memlock()},         {"open_files", check_open_files()},
        {"systemd", check_systemd_unit()},    {"daemon", check_daemon(options.domain)}};
    int failures = 0;
    auto report = nlohmann::ordered_json::array();
    for (const auto& [name, check] : checks) {
        if (options.json) {
            report.push_back({{"check", name},
                              {"status", status_word(check.status)},
                              {"message", check.message}});
        } else {
            fmt::print("{:<5} {}\n", status_word(check.status), check.message);
        }
        if (check.status == Status::fail) ++failures;
    }
    if (options.json) std::puts(report.dump().c_str());
    if (failures > 0) throw CliError(fmt::format("{} check(s) failed", failures));
    return 0;
}

}  // namespace

void add_doctor_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<DoctorOptions>();
    CLI::App* command =
        app.add_subcommand("doctor", "Check this machine and the domain's daemon for ipcbus");
    command->footer(
        "Checks the kernel, membarrier and futex_waitv, the memory cgroup limit, the locked-\n"
        "memory and open-file limits, the systemd unit, and that the domain's daemon answers\n"
        "with this tool's version (starting it unless IPCBUS_NO_AUTOSTART=1). /dev/shm does not\n"
        "matter: topics live in memfds. One line per check: ok, warn or fail, with what to do.\n"
        "Exits with 1 if a check fails.");
    add_domain_option(*command, options->domain);
    command->add_flag("--json", options->json,
                      "One JSON array: [{check, status (ok|warn|fail), message}]");
    command->callback([options, &action] { action = [options] { return run_doctor(*options); }; });
}

}  // namespace ipcbus::cli
