// Topic segments as anonymous shared memory (memfd): created by the daemon, passed to
// clients as file descriptors, freed by the kernel when the last descriptor and mapping
// are gone. Nothing is ever named in /dev/shm, so nothing can go stale there.
//
// A topic is two memfds (see layout/segment_layout.hpp): control, writable by every
// user of the topic, and data, writable by publishers only. The data memfd's inode is
// read-only (0444) once sized: a subscriber handed a read-only descriptor cannot reopen it
// writable through /proc/self/fd (root excepted), so the kernel keeps readers from
// writing messages.
#pragma once

#include <cstddef>

#include "ipc/unique_fd.hpp"
#include "ipcbus/result.hpp"
#include "segment_format.hpp"

namespace ipcbus::detail {

/// The mappings of a topic's two segments, with the validated view into them. Move-only;
/// unmaps on death.
class MappedSegment {
  public:
    /// Creates both memfds of the geometry's sizes, reserves their memory (an exhausted
    /// memory limit is an error now, not a SIGBUS later), seals their sizes, maps and
    /// formats them.
    static Result<MappedSegment> create(const TopicRequest& request,
                                        const layout::Geometry& geometry);
    /// Maps a topic received as descriptors and validates it (`topic` names it in errors).
    /// The data segment is mapped writable only if `data_writable`.
    static Result<MappedSegment> map(UniqueFd control, UniqueFd data, std::string_view topic,
                                     bool data_writable);
    /// A segment that maps nothing (a placeholder to move a real one into).
    static MappedSegment empty() noexcept { return MappedSegment(); }

    MappedSegment(MappedSegment&& other) noexcept;
    MappedSegment& operator=(MappedSegment&& other) noexcept;
    MappedSegment(const MappedSegment&) = delete;
    MappedSegment& operator=(const MappedSegment&) = delete;
    ~MappedSegment();

    [[nodiscard]] const SegmentView& view() const noexcept { return view_; }
    [[nodiscard]] int control_fd() const noexcept { return control_.fd.get(); }
    [[nodiscard]] int data_fd() const noexcept { return data_.fd.get(); }
    [[nodiscard]] std::size_t size() const noexcept { return control_.size + data_.size; }

    /// A new descriptor of the data segment that only reads (for subscribers).
    Result<UniqueFd> read_only_data() const;

  private:
    struct Part {
        UniqueFd fd;
        void* base = nullptr;
        std::size_t size = 0;
    };
    MappedSegment() noexcept = default;
    void unmap() noexcept;

    Part control_;
    Part data_;
    SegmentView view_{};
};

}  // namespace ipcbus::detail
