// SPDX-License-Identifier: Apache-2.0
#include "process_info.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

namespace ipcbus::cli {
namespace {

std::string read_file(const std::string& path) {
    std::ifstream file(path);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// The letter proc(5) gives for a state, in words.
std::string state_word(char letter) {
    switch (letter) {
        case 'R':
            return "running";
        case 'S':
            return "sleeping";
        case 'D':
            return "in disk wait";
        case 'T':
            return "stopped";
        case 't':
            return "stopped by a debugger";
        case 'Z':
            return "zombie";
        case 'X':
            return "dead";
        case 'I':
            return "idle";
        default:
            return "unknown";
    }
}

// /proc/PID/stat: "PID (COMM) STATE ...", where COMM may itself hold ')' and spaces.
std::string state_of(const std::string& stat) {
    const auto end_of_name = stat.rfind(')');
    if (end_of_name == std::string::npos || end_of_name + 2 >= stat.size()) return "unknown";
    return state_word(stat[end_of_name + 2]);
}

// The real uid from /proc/PID/status's "Uid:\treal\teffective\tsaved\tfs" line.
std::optional<uid_t> uid_of(const std::string& status) {
    std::istringstream lines(status);
    for (std::string line; std::getline(lines, line);) {
        if (!line.starts_with("Uid:")) continue;
        std::istringstream fields(line.substr(4));
        unsigned long uid = 0;
        if (fields >> uid) return static_cast<uid_t>(uid);
    }
    return std::nullopt;
}

}  // namespace

ProcessInfo describe_process(pid_t pid) {
    const std::string dir = "/proc/" + std::to_string(pid) + "/";
    const std::string stat = read_file(dir + "stat");
    if (pid <= 0 || stat.empty()) return {"?", std::nullopt, "gone"};
    std::string name = read_file(dir + "comm");
    if (!name.empty() && name.back() == '\n') name.pop_back();
    return {name.empty() ? "?" : name, uid_of(read_file(dir + "status")), state_of(stat)};
}

}  // namespace ipcbus::cli
