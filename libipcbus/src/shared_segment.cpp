#include "shared_segment.hpp"

#include <fcntl.h>
#include <sched.h>
#include <time.h>

#include <atomic>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <variant>

#include "clock.hpp"

namespace ipcbus::detail {
namespace bip = boost::interprocess;

struct SharedSegment::Mapping {
    std::string name;
    bip::mapped_region region;
};

namespace {

// Permissions of new segments: owner and group may read and write; others nothing.
// (The daemon's access control will choose per topic.)
constexpr unsigned kSegmentMode = 0660;
// How long an opener waits for a creator in another process to finish formatting.
constexpr std::uint64_t kCreateWaitNs = 2'000'000'000ULL;

struct Vanished {};  // the object disappeared or is being destroyed: start over
using Attempt = std::variant<SharedSegment, Vanished, Error>;

Error from_interprocess(const bip::interprocess_exception& e, std::string_view topic,
                        const char* action) {
    const ErrorCode code = e.get_error_code() == bip::security_error ? ErrorCode::permission_denied
                                                                     : ErrorCode::system_error;
    return Error{code, "topic '" + std::string(topic) + "': cannot " + action +
                           " shared memory: " + e.what()};
}

std::span<std::byte> bytes_of(bip::mapped_region& region) {
    return {static_cast<std::byte*>(region.get_address()), region.get_size()};
}

// Backs off politely while another process finishes creating a segment.
void pause_briefly(unsigned round) {
    if (round < 64) {
        ::sched_yield();
        return;
    }
    timespec ts{0, 100'000};  // 100 us
    ::nanosleep(&ts, nullptr);
}

// Increments the attach count unless it already fell to zero (the segment is being
// destroyed by its last user; the caller then starts over with a fresh segment).
bool try_attach(layout::TopicHeader& header) {
    std::uint32_t n = header.attached.load(std::memory_order_relaxed);
    do {
        if (n == 0) return false;
        // Acq_rel: orders this attach against a concurrent last detach's decrement.
    } while (!header.attached.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel,
                                                    std::memory_order_relaxed));
    return true;
}

}  // namespace

// The two halves of open_or_create, as friends would be: static helpers in a struct.
struct SegmentFactory {
    static Attempt create(const std::string& name, const TopicRequest& request,
                          const layout::Geometry& geometry);
    static Attempt open(const std::string& name, const TopicRequest& request,
                        std::uint64_t deadline);
    static SharedSegment make(std::unique_ptr<SharedSegment::Mapping> mapping,
                              const SegmentView& view) {
        return SharedSegment(std::move(mapping), view);
    }
};

Attempt SegmentFactory::create(const std::string& name, const TopicRequest& request,
                               const layout::Geometry& geometry) {
    std::optional<bip::shared_memory_object> shm;
    try {
        shm.emplace(bip::create_only, name.c_str(), bip::read_write,
                    bip::permissions(kSegmentMode));
    } catch (const bip::interprocess_exception& e) {
        if (e.get_error_code() == bip::already_exists_error) return Vanished{};
        return from_interprocess(e, request.topic, "create");
    }
    auto discard = [&](Error error) -> Attempt {
        bip::shared_memory_object::remove(name.c_str());
        return error;
    };
    try {
        shm->truncate(static_cast<bip::offset_t>(geometry.segment_size));
        // Reserve the pages now: a full /dev/shm must fail here, with an error, instead
        // of raising SIGBUS later in whichever process first touches a missing page.
        const int fd = shm->get_mapping_handle().handle;
        const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(geometry.segment_size));
        if (rc != 0) {
            return discard(
                Error{rc == ENOSPC ? ErrorCode::resource_exhausted : ErrorCode::system_error,
                      "topic '" + std::string(request.topic) + "': cannot reserve " +
                          std::to_string(geometry.segment_size) + " bytes of shared memory: " +
                          std::strerror(rc) + (rc == ENOSPC ? " (is /dev/shm full?)" : "")});
        }
        auto mapping = std::make_unique<SharedSegment::Mapping>();
        mapping->name = name;
        mapping->region = bip::mapped_region(*shm, bip::read_write);
        TopicRequest as_created = request;
        if (as_created.type.name.empty()) as_created.type = raw_bytes_type;
        format_segment(bytes_of(mapping->region), as_created, geometry);
        auto view = validate_segment(bytes_of(mapping->region), request.topic);
        if (!view) return discard(view.error());
        return make(std::move(mapping), *view);
    } catch (const bip::interprocess_exception& e) {
        return discard(from_interprocess(e, request.topic, "size or map"));
    }
}

Attempt SegmentFactory::open(const std::string& name, const TopicRequest& request,
                             std::uint64_t deadline) {
    try {
        bip::shared_memory_object shm(bip::open_only, name.c_str(), bip::read_write);
        // The creator sizes the object right after creating it, then formats it and stores
        // the magic word last: wait (bounded) for both.
        bip::offset_t size = 0;
        for (unsigned round = 0; shm.get_size(size) && size == 0; ++round) {
            if (monotonic_ns() > deadline) break;
            pause_briefly(round);
        }
        auto mapping = std::make_unique<SharedSegment::Mapping>();
        mapping->name = name;
        if (size > 0) mapping->region = bip::mapped_region(shm, bip::read_write);
        auto memory = bytes_of(mapping->region);
        if (memory.size() >= sizeof(layout::TopicHeader)) {
            auto& magic = reinterpret_cast<layout::TopicHeader*>(memory.data())->magic;
            // Acquire: pairs with the creator's release store of magic.
            for (unsigned round = 0; magic.load(std::memory_order_acquire) == 0; ++round) {
                if (monotonic_ns() > deadline) break;
                pause_briefly(round);
            }
        }
        auto view = validate_segment(memory, request.topic);
        if (!view) {
            Error error = std::move(view).error();
            if (memory.empty() || error.code == ErrorCode::not_a_segment) {
                error.message += " (segment " + name +
                                 " was never initialised or was made by another program; "
                                 "if its creator crashed, remove it: ipcbus::remove_segments)";
            }
            return error;
        }
        if (auto ok = check_compatible(*view, request); !ok) return std::move(ok).error();
        if (!try_attach(*view->header)) return Vanished{};
        return make(std::move(mapping), *view);
    } catch (const bip::interprocess_exception& e) {
        if (e.get_error_code() == bip::not_found_error) return Vanished{};
        return from_interprocess(e, request.topic, "open");
    }
}

Result<SharedSegment> SharedSegment::open_or_create(const std::string& name,
                                                    const TopicRequest& request) {
    auto geometry = plan_segment(request);
    if (!geometry) return std::move(geometry).error();
    const std::uint64_t deadline = monotonic_ns() + kCreateWaitNs;
    for (unsigned round = 0;; ++round) {
        Attempt created = SegmentFactory::create(name, request, *geometry);
        if (auto* s = std::get_if<SharedSegment>(&created)) return std::move(*s);
        if (auto* e = std::get_if<Error>(&created)) return std::move(*e);
        Attempt opened = SegmentFactory::open(name, request, deadline);
        if (auto* s = std::get_if<SharedSegment>(&opened)) return std::move(*s);
        if (auto* e = std::get_if<Error>(&opened)) return std::move(*e);
        if (monotonic_ns() > deadline) {
            return Error{ErrorCode::timeout, "topic '" + std::string(request.topic) +
                                                 "': segment " + name +
                                                 " kept appearing and vanishing; gave up"};
        }
        pause_briefly(round);
    }
}

SharedSegment::SharedSegment(std::unique_ptr<Mapping> mapping, const SegmentView& view) noexcept
    : mapping_(std::move(mapping)), view_(view) {}

SharedSegment::SharedSegment(SharedSegment&& other) noexcept
    : mapping_(std::move(other.mapping_)), view_(std::exchange(other.view_, SegmentView{})) {}

SharedSegment& SharedSegment::operator=(SharedSegment&& other) noexcept {
    if (this != &other) {
        SharedSegment old(std::move(*this));
        mapping_ = std::move(other.mapping_);
        view_ = std::exchange(other.view_, SegmentView{});
    }
    return *this;
}

SharedSegment::~SharedSegment() {
    if (!mapping_ || view_.header == nullptr) return;
    // Acq_rel: the last process out must see every other process's detach before it
    // removes the name; pairs with try_attach's CAS.
    if (view_.header->attached.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        bip::shared_memory_object::remove(mapping_->name.c_str());
    }
}

const std::string& SharedSegment::name() const noexcept {
    return mapping_->name;
}

}  // namespace ipcbus::detail
