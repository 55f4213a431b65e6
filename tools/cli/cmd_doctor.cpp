// SPDX-License-Identifier: Apache-2.0
// ipcbus doctor: checks what ipcbus needs from this machine and says how to fix what is
// missing.
#include <dirent.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"

namespace ipcbus::cli {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kLowShmFree = 64 * kMiB;
constexpr std::uint64_t kLowMemlock = 64 * kMiB;
constexpr rlim_t kLowOpenFiles = 1024;

enum class Status { ok, warn, fail };

struct Check {
    Status status;
    std::string message;
};

struct DoctorOptions {
    std::string domain;
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
    if (!at_least(version, 5, 16)) {
        return {Status::warn, "kernel " + release +
                                  ": blocking waits will need futex_waitv (Linux 5.16 or "
                                  "later); upgrade the kernel to use them"};
    }
    return {Status::ok, "kernel " + release + " (5.16 or later: futex_waitv available)"};
}

// ipcbus keeps its segments in memfds, which /dev/shm's size does not limit; but other
// shared-memory software (and old ipcbus versions) use /dev/shm, and a full one is a
// common cause of trouble on the same machine.
Check check_dev_shm_space() {
    struct statvfs fs {};
    if (::statvfs("/dev/shm", &fs) != 0) {
        return {Status::warn,
                "/dev/shm is missing: ipcbus does not need it (its segments are memfds), but "
                "most shared-memory software does; mount a tmpfs there"};
    }
    const std::uint64_t total = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
    const std::uint64_t free = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    const std::string sizes =
        fmt::format("/dev/shm: {} free of {}", human_bytes(static_cast<double>(free)),
                    human_bytes(static_cast<double>(total)));
    if (free < kLowShmFree) {
        return {Status::warn, sizes +
                                  ": nearly full; delete stale files there or enlarge it "
                                  "(mount -o remount,size=1G /dev/shm)"};
    }
    return {Status::ok, sizes};
}

std::vector<std::string> shm_leftovers() {
    std::vector<std::string> names;
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/dev/shm"), ::closedir);
    if (!dir) return names;
    while (const dirent* entry = ::readdir(dir.get())) {
        if (std::string_view(entry->d_name).starts_with("ipcbus"))
            names.emplace_back(entry->d_name);
    }
    return names;
}

Check check_shm_leftovers() {
    const auto names = shm_leftovers();
    if (names.empty()) return {Status::ok, "no ipcbus files left in /dev/shm"};
    return {Status::warn,
            fmt::format("{} file(s) named ipcbus* in /dev/shm (first: {}): this ipcbus never "
                        "creates any (its segments are memfds), so they are left over from an "
                        "older version; delete them once no such program runs: rm /dev/shm/ipcbus*",
                        names.size(), names.front())};
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
    if (!topics) {
        return {Status::fail, "daemon of domain '" + domain +
                                  "' connected but did not answer: " + topics.error().message};
    }
    return {Status::ok,
            fmt::format("daemon of domain '{}' answers ({} topics)", domain, topics->size())};
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
    const std::vector<Check> checks{check_kernel(),        check_dev_shm_space(),
                                    check_shm_leftovers(), check_memlock(),
                                    check_open_files(),    check_daemon(options.domain)};
    int failures = 0;
    for (const Check& check : checks) {
        fmt::print("{:<5} {}\n", status_word(check.status), check.message);
        if (check.status == Status::fail) ++failures;
    }
    if (failures > 0) throw CliError(fmt::format("{} check(s) failed", failures));
    return 0;
}

}  // namespace

void add_doctor_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<DoctorOptions>();
    CLI::App* command =
        app.add_subcommand("doctor", "Check this machine and the domain's daemon for ipcbus");
    command->footer(
        "Checks the kernel version, /dev/shm space and leftovers, the locked-memory and open-file\n"
        "limits, and that the domain's daemon answers (starting it unless IPCBUS_NO_AUTOSTART=1).\n"
        "One line per check: ok, warn or fail, with what to do. Exits with 1 if a check fails.");
    add_domain_option(*command, options->domain);
    command->callback([options, &action] { action = [options] { return run_doctor(*options); }; });
}

}  // namespace ipcbus::cli
