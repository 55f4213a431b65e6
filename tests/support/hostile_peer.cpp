// SPDX-License-Identifier: Apache-2.0
// ipcbus_test_hostile_peer: processes that misbehave on purpose, for the data-path tests.
//
//   ipcbus_test_hostile_peer scribble DOMAIN TOPIC [key=value ...]
//       drops to uid/gid 65534 if started as root (a hostile user with subscribe rights
//       only: root could reopen any segment writable), subscribes (group=NAME: as a
//       member), maps writable every ipcbus segment this process holds that the kernel
//       lets it, prints "scribbling <segments> <bytes>", and then, until its stdin
//       closes, fills them with garbage again and again (random bytes, all zeros, all
//       ones, small numbers), calling take() between rounds. Prints "rounds <n>" at the
//       end. It must not crash, and it must not harm anyone else.
//   ipcbus_test_hostile_peer hold_loan DOMAIN TOPIC [key=value ...]
//       takes one loan, fills it (publisher 9, counter 0), prints "holding", waits for a
//       line on stdin, publishes it, prints "published" (or "publish_failed <why>").
//   ipcbus_test_hostile_peer fill_while_holding DOMAIN TOPIC [key=value ...]
//       takes one loan and keeps it while it sends `count` messages (publisher 8), prints
//       "sent <n>", then publishes the held loan and prints "done".
//
// keys: capacity=N size=N mode=overwrite|reliable group=NAME count=N deadline_s=N
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "ipcbus/ipcbus.hpp"
#include "peer_args.hpp"
#include "test_payload.hpp"

namespace {

using Args = ipcbus::test::PeerArgs;

int fail(const std::string& what) {
    return ipcbus::test::peer_fail(what);
}

ipcbus::TopicOptions topic_options(const Args& args) {
    ipcbus::TopicOptions o;
    o.capacity = static_cast<std::uint32_t>(args.number("capacity", 0));
    o.slot_size = static_cast<std::uint64_t>(args.number("size", 0));
    if (args.values.count("mode") != 0) {
        o.mode = args.text("mode", "") == "reliable" ? ipcbus::DeliveryMode::reliable
                                                     : ipcbus::DeliveryMode::overwrite;
    }
    return o;
}

struct Writable {
    std::byte* base;
    std::size_t size;
};

// Every ipcbus memfd of this process that the kernel lets it map writable: through the
// descriptor it was given, or reopened read-write through /proc/self/fd.
std::vector<Writable> map_everything_writable() {
    std::vector<Writable> out;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const auto target = std::filesystem::read_symlink(entry.path(), ec);
        if (ec || target.string().find("memfd:ipcbus") == std::string::npos) continue;
        const int fd = std::stoi(entry.path().filename().string());
        struct stat st {};
        if (::fstat(fd, &st) != 0 || st.st_size == 0) continue;
        const auto size = static_cast<std::size_t>(st.st_size);
        void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (base == MAP_FAILED) {
            const int again = ::open(entry.path().c_str(), O_RDWR | O_CLOEXEC);
            if (again < 0) continue;  // what the kernel refuses, a hostile user cannot do
            base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, again, 0);
            ::close(again);
            if (base == MAP_FAILED) continue;
        }
        out.push_back({static_cast<std::byte*>(base), size});
    }
    return out;
}

bool stdin_closed() {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    char c = 0;
    return ::read(STDIN_FILENO, &c, 1) <= 0;
}

// One round of garbage: the kinds rotate, so that plausible values (zeros, small numbers)
// get their turn next to random ones.
void scribble_round(const std::vector<Writable>& targets, std::uint64_t round,
                    std::uint64_t& state) {
    for (const Writable& w : targets) {
        auto* words = reinterpret_cast<std::uint64_t*>(w.base);
        const std::size_t n = w.size / sizeof(std::uint64_t);
        for (std::size_t i = 0; i < n; ++i) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            switch (round % 4) {
                case 0:
                    words[i] = state;
                    break;
                case 1:
                    words[i] = 0;
                    break;
                case 2:
                    words[i] = ~0ULL;
                    break;
                default:
                    words[i] = state % 97;
                    break;
            }
        }
    }
}

int scribble(const ipcbus::Node& node, const std::string& topic, const Args& args) {
    ipcbus::ReaderOptions reader;
    reader.group = args.text("group", "");
    auto sub =
        ipcbus::RawSubscriber::create(node, topic, topic_options(args), ipcbus::any_type, reader);
    if (!sub) return fail(sub.error().message);
    const auto targets = map_everything_writable();
    std::size_t bytes = 0;
    for (const auto& t : targets) bytes += t.size;
    std::cout << "scribbling " << targets.size() << " " << bytes << std::endl;
    std::uint64_t state = 0x9e3779b97f4a7c15ULL;
    std::uint64_t round = 0;
    std::vector<std::byte> buffer(sub->max_payload_size());
    while (!stdin_closed()) {
        scribble_round(targets, round++, state);
        for (int i = 0; i < 8; ++i) {
            (void)sub->take();
            (void)sub->take_copy(buffer);
        }
    }
    std::cout << "rounds " << round << std::endl;
    return 0;
}

int hold_loan(const ipcbus::Node& node, const std::string& topic, const Args& args) {
    auto pub = ipcbus::RawPublisher::create(node, topic, topic_options(args));
    if (!pub) return fail(pub.error().message);
    auto loan = pub->loan(pub->max_payload_size());
    if (!loan) return fail(std::string(ipcbus::to_string(loan.error())));
    ipcbus::test::write_payload(loan->data(), 9, 0);
    std::cout << "holding" << std::endl;
    std::string line;
    std::getline(std::cin, line);
    auto published = pub->publish(std::move(*loan));
    if (!published) {
        std::cout << "publish_failed " << ipcbus::to_string(published.error()) << std::endl;
        return 0;
    }
    std::cout << "published" << std::endl;
    return 0;
}

int fill_while_holding(const ipcbus::Node& node, const std::string& topic, const Args& args) {
    auto pub = ipcbus::RawPublisher::create(node, topic, topic_options(args));
    if (!pub) return fail(pub.error().message);
    const std::size_t size = pub->max_payload_size();
    auto held = pub->loan(size);
    if (!held) return fail(std::string(ipcbus::to_string(held.error())));
    ipcbus::test::write_payload(held->data(), 9, 0);
    const auto count = static_cast<std::uint64_t>(args.number("count", 16));
    std::vector<std::byte> message(size);
    std::uint64_t sent = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        ipcbus::test::write_payload(message, 8, i);
        if (pub->send(message)) ++sent;
    }
    std::cout << "sent " << sent << std::endl;
    if (!pub->publish(std::move(*held))) return fail("the held loan could not be published");
    std::cout << "done" << std::endl;
    return 0;
}

// A hostile user is not root: root may reopen any segment writable and is trusted.
bool drop_root() {
    if (::geteuid() != 0) return true;
    const gid_t nobody_gid = 65534;
    const uid_t nobody_uid = 65534;
    return ::setgroups(0, nullptr) == 0 && ::setresgid(nobody_gid, nobody_gid, nobody_gid) == 0 &&
           ::setresuid(nobody_uid, nobody_uid, nobody_uid) == 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string_view(argv[1]) == "scribble" && !drop_root()) {
        return fail(std::string("cannot drop root: ") + std::strerror(errno));
    }
    return ipcbus::test::run_peer(argc, argv,
                                  {{"scribble", &scribble},
                                   {"hold_loan", &hold_loan},
                                   {"fill_while_holding", &fill_while_holding}});
}
