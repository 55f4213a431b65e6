#include "ipc/memfd_segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>

namespace ipcbus::detail {
namespace {

Error os_error(ErrorCode code, std::string_view topic, const std::string& what, int err) {
    return Error{code, "topic '" + std::string(topic) + "': " + what + ": " + std::strerror(err)};
}

// A sized, fully reserved, size-sealed memfd.
Result<UniqueFd> make_memfd(std::string_view topic, const char* part, std::uint64_t size) {
    const std::string label = "ipcbus:" + std::string(topic) + ":" + part;
    UniqueFd fd(::memfd_create(label.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd.valid()) return os_error(ErrorCode::system_error, topic, "memfd_create", errno);
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
    return fd;
}

Result<void*> map_fd(int fd, std::size_t size, bool writable, std::string_view topic) {
    void* base = ::mmap(nullptr, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        return os_error(errno == EACCES ? ErrorCode::permission_denied : ErrorCode::system_error,
                        topic, "cannot map segment", errno);
    }
    return base;
}

Result<std::size_t> size_of(int fd, std::string_view topic) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return os_error(ErrorCode::system_error, topic, "fstat", errno);
    return static_cast<std::size_t>(st.st_size);
}

}  // namespace

Result<MappedSegment> MappedSegment::create(const TopicRequest& request,
                                            const layout::Geometry& geometry) {
    auto control = make_memfd(request.topic, "control", geometry.control_size);
    if (!control) return std::move(control).error();
    auto data = make_memfd(request.topic, "data", geometry.data_size);
    if (!data) return std::move(data).error();
    // Read-only inode: a read-only descriptor can then not be reopened writable through
    // /proc/self/fd by anyone but root. Open descriptors keep their access.
    if (::fchmod(data->get(), 0444) != 0) {
        return os_error(ErrorCode::system_error, request.topic, "cannot protect segment", errno);
    }
    MappedSegment segment;
    for (auto [part, fd, size] : {std::tuple{&segment.control_, &*control, geometry.control_size},
                                  std::tuple{&segment.data_, &*data, geometry.data_size}}) {
        auto base = map_fd(fd->get(), size, true, request.topic);
        if (!base) return std::move(base).error();
        *part = Part{std::move(*fd), *base, size};
    }
    const SegmentMemory memory{
        {static_cast<std::byte*>(segment.control_.base), segment.control_.size},
        {static_cast<std::byte*>(segment.data_.base), segment.data_.size}};
    TopicRequest as_created = request;
    if (as_created.type.name.empty()) as_created.type = raw_bytes_type;
    format_segment(memory, as_created, geometry);
    auto view = validate_segment(memory, request.topic);
    if (!view) return std::move(view).error();
    segment.view_ = *view;
    return segment;
}

Result<MappedSegment> MappedSegment::map(UniqueFd control, UniqueFd data, std::string_view topic,
                                         bool data_writable) {
    MappedSegment segment;
    for (auto [part, fd, writable] : {std::tuple{&segment.control_, &control, true},
                                      std::tuple{&segment.data_, &data, data_writable}}) {
        auto size = size_of(fd->get(), topic);
        if (!size) return std::move(size).error();
        if (*size == 0) {
            return Error{ErrorCode::corrupt_segment,
                         "topic '" + std::string(topic) + "': segment truncated: 0 bytes"};
        }
        auto base = map_fd(fd->get(), *size, writable, topic);
        if (!base) return std::move(base).error();
        *part = Part{std::move(*fd), *base, *size};
    }
    auto view =
        validate_segment({{static_cast<std::byte*>(segment.control_.base), segment.control_.size},
                          {static_cast<std::byte*>(segment.data_.base), segment.data_.size}},
                         topic);
    if (!view) return std::move(view).error();
    segment.view_ = *view;
    return segment;
}

Result<UniqueFd> MappedSegment::read_only_data() const {
    const std::string path = "/proc/self/fd/" + std::to_string(data_.fd.get());
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return os_error(ErrorCode::system_error, "", "cannot reopen segment", errno);
    return fd;
}

MappedSegment::MappedSegment(MappedSegment&& other) noexcept
    : control_(std::exchange(other.control_, Part{})),
      data_(std::exchange(other.data_, Part{})),
      view_(std::exchange(other.view_, SegmentView{})) {}

MappedSegment& MappedSegment::operator=(MappedSegment&& other) noexcept {
    if (this != &other) {
        unmap();
        control_ = std::exchange(other.control_, Part{});
        data_ = std::exchange(other.data_, Part{});
        view_ = std::exchange(other.view_, SegmentView{});
    }
    return *this;
}

MappedSegment::~MappedSegment() {
    unmap();
}

void MappedSegment::unmap() noexcept {
    for (Part* part : {&control_, &data_}) {
        if (part->base != nullptr) ::munmap(part->base, part->size);
        part->base = nullptr;
    }
}

}  // namespace ipcbus::detail
