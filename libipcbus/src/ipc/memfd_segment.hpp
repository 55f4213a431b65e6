// SPDX-License-Identifier: Apache-2.0
// Shared memory as anonymous memfds: created by the daemon, passed to clients as file
// descriptors, freed by the kernel when the last descriptor and mapping are gone. Nothing
// is ever named in /dev/shm, so nothing can go stale there.
//
// Every segment's inode is made read-only (0444) once it is sized, so a process handed a
// read-only descriptor cannot reopen it writable through /proc/self/fd (root excepted):
// readers get the topic segment read-only, publishers get readers' segments read-only,
// and the kernel, not politeness, keeps each party to its own memory.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "ipc/unique_fd.hpp"
#include "ipcbus/result.hpp"
#include "segment_format.hpp"

namespace ipcbus::detail {

/// One memfd and its mapping. Move-only; unmaps on death.
class SharedMemory {
  public:
    /// Creates a memfd of `size` bytes labelled `label` (shown in /proc/PID/fd), reserves
    /// its memory (an exhausted memory limit is an error now, not a SIGBUS later), seals
    /// its size, makes its inode read-only, and maps it read-write.
    static Result<SharedMemory> create(std::string_view label, std::uint64_t size,
                                       std::string_view topic);
    /// Maps a received memfd (read-write only if `writable`). `populate` pre-faults it.
    static Result<SharedMemory> map(UniqueFd fd, bool writable, bool populate,
                                    std::string_view topic);
    static SharedMemory empty() noexcept { return SharedMemory(); }

    SharedMemory(SharedMemory&& other) noexcept;
    SharedMemory& operator=(SharedMemory&& other) noexcept;
    SharedMemory(const SharedMemory&) = delete;
    SharedMemory& operator=(const SharedMemory&) = delete;
    ~SharedMemory();

    [[nodiscard]] std::span<std::byte> bytes() const noexcept {
        return {static_cast<std::byte*>(base_), size_};
    }
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool mapped() const noexcept { return base_ != nullptr; }
    [[nodiscard]] bool writable() const noexcept { return writable_; }
    /// A new descriptor of the same memory that only reads.
    Result<UniqueFd> read_only_fd() const;

  private:
    SharedMemory() noexcept = default;
    void unmap() noexcept;

    UniqueFd fd_;
    void* base_ = nullptr;
    std::size_t size_ = 0;
    bool writable_ = false;
};

/// A topic segment: its memory and the validated view of it. Move-only.
class TopicSegment {
  public:
    /// Creates and formats a topic segment for `request` as planned.
    static Result<TopicSegment> create(const TopicRequest& request, const TopicPlan& plan);
    /// Maps a received topic segment and validates it (`topic` names it in errors).
    static Result<TopicSegment> map(UniqueFd fd, std::string_view topic, bool writable);
    static TopicSegment empty() noexcept { return TopicSegment(); }

    [[nodiscard]] const SegmentView& view() const noexcept { return topic_.view; }
    [[nodiscard]] const ValidatedTopic& validated() const noexcept { return topic_; }
    [[nodiscard]] const TopicIdentity& identity() const noexcept { return topic_.identity; }
    [[nodiscard]] int fd() const noexcept { return memory_.fd(); }
    [[nodiscard]] std::size_t size() const noexcept { return memory_.size(); }
    [[nodiscard]] bool writable() const noexcept { return memory_.writable(); }
    [[nodiscard]] const SharedMemory& memory() const noexcept { return memory_; }

  private:
    TopicSegment() = default;
    SharedMemory memory_ = SharedMemory::empty();
    ValidatedTopic topic_{};
};

}  // namespace ipcbus::detail
