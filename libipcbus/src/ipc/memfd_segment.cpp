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

Result<MappedSegment> MappedSegment::create(const TopicRequest& request,
                                            const layout::Geometry& geometry) {
    const std::string label = "ipcbus:" + std::string(request.topic);
    UniqueFd fd(::memfd_create(label.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd.valid()) return os_error(ErrorCode::system_error, request.topic, "memfd_create", errno);
    const auto size = static_cast<off_t>(geometry.segment_size);
    if (::ftruncate(fd.get(), size) != 0) {
        return os_error(ErrorCode::resource_exhausted, request.topic, "cannot size segment", errno);
    }
    // Reserve every page now: running out of memory must be an error at create time, never
    // a SIGBUS in whichever process first touches a page that cannot be had.
    if (const int rc = ::posix_fallocate(fd.get(), 0, size); rc != 0) {
        return os_error(
            ErrorCode::resource_exhausted, request.topic,
            "cannot reserve " + std::to_string(geometry.segment_size) + " bytes of shared memory",
            rc);
    }
    // No one may shrink the segment under a mapping (SIGBUS) or grow it.
    if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        return os_error(ErrorCode::system_error, request.topic, "cannot seal segment", errno);
    }
    void* base =
        ::mmap(nullptr, geometry.segment_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (base == MAP_FAILED) {
        return os_error(ErrorCode::resource_exhausted, request.topic, "cannot map segment", errno);
    }
    std::span<std::byte> memory(static_cast<std::byte*>(base), geometry.segment_size);
    TopicRequest as_created = request;
    if (as_created.type.name.empty()) as_created.type = raw_bytes_type;
    format_segment(memory, as_created, geometry);
    MappedSegment segment(std::move(fd), base, geometry.segment_size, SegmentView{});
    auto view = validate_segment(memory, request.topic);
    if (!view) return std::move(view).error();
    segment.view_ = *view;
    return segment;
}

Result<MappedSegment> MappedSegment::map(UniqueFd fd, std::string_view topic) {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        return os_error(ErrorCode::system_error, topic, "fstat", errno);
    const auto size = static_cast<std::size_t>(st.st_size);
    if (size < sizeof(layout::TopicHeader)) {
        return Error{ErrorCode::corrupt_segment,
                     "topic '" + std::string(topic) +
                         "': segment truncated: " + std::to_string(size) + " bytes"};
    }
    void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (base == MAP_FAILED) {
        return os_error(errno == EACCES ? ErrorCode::permission_denied : ErrorCode::system_error,
                        topic, "cannot map segment", errno);
    }
    MappedSegment segment(std::move(fd), base, size, SegmentView{});
    auto view = validate_segment({static_cast<std::byte*>(base), size}, topic);
    if (!view) return std::move(view).error();
    segment.view_ = *view;
    return segment;
}

MappedSegment::MappedSegment(MappedSegment&& other) noexcept
    : fd_(std::move(other.fd_)),
      base_(std::exchange(other.base_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      view_(std::exchange(other.view_, SegmentView{})) {}

MappedSegment& MappedSegment::operator=(MappedSegment&& other) noexcept {
    if (this != &other) {
        unmap();
        fd_ = std::move(other.fd_);
        base_ = std::exchange(other.base_, nullptr);
        size_ = std::exchange(other.size_, 0);
        view_ = std::exchange(other.view_, SegmentView{});
    }
    return *this;
}

MappedSegment::~MappedSegment() {
    unmap();
}

void MappedSegment::unmap() noexcept {
    if (base_ != nullptr) ::munmap(base_, size_);
    base_ = nullptr;
}

}  // namespace ipcbus::detail
