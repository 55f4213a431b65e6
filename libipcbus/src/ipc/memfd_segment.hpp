// Topic segments as anonymous shared memory (memfd): created by the daemon, passed to
// clients as file descriptors, freed by the kernel when the last descriptor and mapping
// are gone. Nothing is ever named in /dev/shm, so nothing can go stale there.
#pragma once

#include <cstddef>

#include "ipc/unique_fd.hpp"
#include "ipcbus/result.hpp"
#include "segment_format.hpp"

namespace ipcbus::detail {

/// A mapping of a segment, with the validated view into it. Move-only; unmaps on death.
class MappedSegment {
  public:
    /// Creates a memfd of the geometry's size, reserves its memory (an exhausted memory
    /// limit is an error now, not a SIGBUS later), seals its size, maps and formats it.
    static Result<MappedSegment> create(const TopicRequest& request,
                                        const layout::Geometry& geometry);
    /// Maps a segment received as `fd` and validates it (`topic` names it in errors).
    static Result<MappedSegment> map(UniqueFd fd, std::string_view topic);

    /// A segment that maps nothing (a placeholder to move a real one into).
    static MappedSegment empty() noexcept { return MappedSegment(UniqueFd(), nullptr, 0, {}); }

    MappedSegment(MappedSegment&& other) noexcept;
    MappedSegment& operator=(MappedSegment&& other) noexcept;
    MappedSegment(const MappedSegment&) = delete;
    MappedSegment& operator=(const MappedSegment&) = delete;
    ~MappedSegment();

    [[nodiscard]] const SegmentView& view() const noexcept { return view_; }
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

  private:
    MappedSegment(UniqueFd fd, void* base, std::size_t size, const SegmentView& view) noexcept
        : fd_(std::move(fd)), base_(base), size_(size), view_(view) {}
    void unmap() noexcept;

    UniqueFd fd_;
    void* base_ = nullptr;
    std::size_t size_ = 0;
    SegmentView view_{};
};

}  // namespace ipcbus::detail
