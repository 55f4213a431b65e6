// How a process obtains a topic segment: a named POSIX shared-memory object, through
// Boost.Interprocess. This is the one module that knows; the daemon will replace it by
// segments it hands out.
#pragma once

#include <memory>
#include <string>

#include "ipcbus/result.hpp"
#include "segment_format.hpp"

namespace ipcbus::detail {

struct SegmentFactory;

/// A mapped topic segment this process is attached to. Move-only. When the last
/// attached process detaches, the shared-memory object is removed.
class SharedSegment {
  public:
    /// Opens the segment `name` for `request`, creating and formatting it if absent.
    /// Validates whatever it finds and checks it against the request.
    static Result<SharedSegment> open_or_create(const std::string& name,
                                                const TopicRequest& request);

    SharedSegment(SharedSegment&&) noexcept;
    SharedSegment& operator=(SharedSegment&&) noexcept;
    ~SharedSegment();

    [[nodiscard]] const SegmentView& view() const noexcept { return view_; }
    [[nodiscard]] const std::string& name() const noexcept;

    struct Mapping;  // the Boost objects, kept out of this header

  private:
    friend struct SegmentFactory;
    SharedSegment(std::unique_ptr<Mapping> mapping, const SegmentView& view) noexcept;
    std::unique_ptr<Mapping> mapping_;
    SegmentView view_;
};

}  // namespace ipcbus::detail
