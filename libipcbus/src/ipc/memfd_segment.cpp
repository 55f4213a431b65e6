// SPDX-License-Identifier: Apache-2.0
#include "ipc/memfd_segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace ipcbus::detail {
namespace {

Error os_error(ErrorCode code, std::string_view topic, const std::string& what, int err) {
    return Error{code, "topic '" + std::string(topic) + "': " + what + ": " + std::strerror(err)};
}

}  // namespace

Result<SharedMemory> SharedMemory::create(std::string_view label, std::uint64_t size,
                                          std::string_view topic) {
    const std::string name = "ipcbus:" + std::string(label);
    UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd.valid()) {
        return os_error(errno == EMFILE || errno == ENFILE ? ErrorCode::resource_exhausted
                                                           : ErrorCode::system_error,
                        topic, "memfd_create", errno);
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        return os_error(ErrorCode::resource_exhausted, topic,
                        "cannot size a segment of " + std::to_string(size) +
                            " bytes (a file-size limit such as ulimit -f, or memory full?)",
                        errno);
    }
    // Reserve every page now: running out of memory must be an error at create time, never
    // a SIGBUS in whichever process first touches a page that cannot be had.
    if (const int rc = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size)); rc != 0) {
        return os_error(ErrorCode::resource_exhausted, topic,
                        "cannot reserve " + std::to_string(size) + " bytes of shared memory", rc);
    }
    // No one may shrink the segment under a mapping (SIGBUS) or grow it.
    if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        return os_error(ErrorCode::system_error, topic, "cannot seal segment", errno);
    }
    // Read-only inode: a read-only descriptor can then not be reopened writable through
    // /proc/self/fd by anyone but root. Open descriptors keep their access.
    if (::fchmod(fd.get(), 0444) != 0) {
        return os_error(ErrorCode::system_error, topic, "cannot protect segment", errno);
    }
    return map(std::move(fd), true, false, topic);
}

Result<SharedMemory> SharedMemory::map(UniqueFd fd, bool writable, bool populate,
                                       std::string_view topic) {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        return os_error(ErrorCode::system_error, topic, "fstat", errno);
    if (st.st_size <= 0) {
        return Error{ErrorCode::corrupt_segment,
                     "topic '" + std::string(topic) + "': segment truncated: 0 bytes"};
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    const int flags = MAP_SHARED | (populate ? MAP_POPULATE : 0);
    void* base = ::mmap(nullptr, size, PROT_READ | (writable ? PROT_WRITE : 0), flags, fd.get(), 0);
    if (base == MAP_FAILED) {
        return os_error(errno == EACCES ? ErrorCode::permission_denied : ErrorCode::system_error,
                        topic, "cannot map segment", errno);
    }
    SharedMemory memory;
    memory.fd_ = std::move(fd);
    memory.base_ = base;
    memory.size_ = size;
    memory.writable_ = writable;
    return memory;
}

Result<UniqueFd> SharedMemory::read_only_fd() const {
    const std::string path = "/proc/self/fd/" + std::to_string(fd_.get());
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        return os_error(errno == EMFILE || errno == ENFILE ? ErrorCode::resource_exhausted
                                                           : ErrorCode::system_error,
                        "", "cannot reopen segment read-only", errno);
    }
    return fd;
}

SharedMemory::SharedMemory(SharedMemory&& other) noexcept
    : fd_(std::move(other.fd_)),
      base_(std::exchange(other.base_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      writable_(other.writable_) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& other) noexcept {
    if (this != &other) {
        unmap();
        fd_ = std::move(other.fd_);
        base_ = std::exchange(other.base_, nullptr);
        size_ = std::exchange(other.size_, 0);
        writable_ = other.writable_;
    }
    return *this;
}

SharedMemory::~SharedMemory() {
    unmap();
}

void SharedMemory::unmap() noexcept {
    if (base_ != nullptr) ::munmap(base_, size_);
    base_ = nullptr;
    size_ = 0;
}

Result<TopicSegment> TopicSegment::create(const TopicRequest& request, const TopicPlan& plan) {
    auto memory = SharedMemory::create(std::string(request.topic) + ":topic",
                                       plan.geometry.segment_size, request.topic);
    if (!memory) return std::move(memory).error();
    TopicRequest as_created = request;
    if (as_created.type.name.empty()) as_created.type = raw_bytes_type;
    format_segment(memory->bytes(), as_created, plan);
    auto validated = validate_segment(memory->bytes(), request.topic);
    if (!validated) return std::move(validated).error();
    TopicSegment segment;
    segment.memory_ = std::move(memory).value();
    segment.topic_ = std::move(validated).value();
    return segment;
}

Result<TopicSegment> TopicSegment::map(UniqueFd fd, std::string_view topic, bool writable) {
    // Pre-faulted: the ring and its pool are touched on every message; page faults there
    // would be latency spikes.
    auto memory = SharedMemory::map(std::move(fd), writable, true, topic);
    if (!memory) return std::move(memory).error();
    auto validated = validate_segment(memory->bytes(), topic);
    if (!validated) return std::move(validated).error();
    TopicSegment segment;
    segment.memory_ = std::move(memory).value();
    segment.topic_ = std::move(validated).value();
    return segment;
}

}  // namespace ipcbus::detail
