#include "ipcbus/node.hpp"

#include <dirent.h>

#include <boost/interprocess/shared_memory_object.hpp>
#include <cstdlib>
#include <memory>

#include "names.hpp"

namespace ipcbus {

std::string default_domain() {
    const char* env = std::getenv("IPCBUS_DOMAIN");
    return (env != nullptr && *env != '\0') ? std::string(env) : std::string("default");
}

Result<Node> Node::create(NodeOptions options) {
    std::string domain = options.domain.empty() ? default_domain() : std::move(options.domain);
    if (auto ok = detail::validate_domain_name(domain); !ok) return std::move(ok).error();
    return Node(std::move(domain));
}

std::vector<std::string> list_segments(std::string_view domain) {
    // POSIX shared memory lives in /dev/shm on Linux; Boost.Interprocess uses shm_open.
    std::vector<std::string> names;
    const std::string prefix = detail::domain_prefix(domain);
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/dev/shm"), ::closedir);
    if (!dir) return names;
    while (const dirent* e = ::readdir(dir.get())) {
        const std::string_view name = e->d_name;
        if (name.starts_with(prefix)) names.emplace_back(name);
    }
    return names;
}

Result<std::size_t> remove_segments(std::string_view domain) {
    if (auto ok = detail::validate_domain_name(domain); !ok) return std::move(ok).error();
    std::size_t removed = 0;
    for (const std::string& name : list_segments(domain)) {
        if (boost::interprocess::shared_memory_object::remove(name.c_str())) ++removed;
    }
    return removed;
}

}  // namespace ipcbus
