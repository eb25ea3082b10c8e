// ringlite: writing records into a ring (docs/design.md, "Claiming space"). A Producer owns one row
// of the ring's producer table; its writers claim space with one CAS on the ring's tail,
// copy the record, and publish it with one CAS on the frame's commit word. No locks, no
// syscalls on the hot path; a producer that dies mid-write is cleaned up by the bridge.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ringlite/ring.hpp"

namespace ringlite {

/// What a write did. `full` and `abandoned` are retryable; the rest are not.
enum class WriteResult : std::uint8_t {
  ok,         ///< committed: the bridge will persist it
  full,       ///< no space (the bridge is behind): retry later, or use write()
  too_large,  ///< the record exceeds the ring's max_record: never fits
  closed,     ///< the producer was closed or the ring removed
  corrupt,    ///< the ring is damaged (inconsistent cursors, a truncated segment): stop
  abandoned,  ///< this producer stalled past unblock_timeout mid-write; the bridge gave
              ///< its claim up and recorded a gap. The record was not written: retry.
};

/// "ok", "full", ...
std::string_view to_string(WriteResult r) noexcept;
constexpr bool is_retryable(WriteResult r) noexcept {
  return r == WriteResult::full || r == WriteResult::abandoned;
}

/// What write() without a timeout does when the ring is full.
enum class OnFull : std::uint8_t {
  block,  ///< wait for space (spin briefly, then sleep on a futex)
  drop,   ///< give up at once: count the drop in the ring header and return full
};

namespace detail {
class ProducerCore;
}

/// Writes records of one type. Cheap to copy; valid while its Producer lives.
class RawWriter {
 public:
  RawWriter() = default;
  /// Non-blocking. payload.size() must be the type's size for fixed-size types; for
  /// types with TEXT/BLOB columns, the fixed part followed by the tail, with offsets
  /// already filled in. ts_ns = 0 stamps the current time (Producer::tsc_clock()).
  [[nodiscard]] WriteResult try_write(std::span<const std::byte> payload,
                                      std::int64_t ts_ns = 0) noexcept;
  /// Waits up to `timeout` for space when the ring is full (spin, then futex sleep).
  [[nodiscard]] WriteResult write(std::span<const std::byte> payload,
                                  std::chrono::nanoseconds timeout,
                                  std::int64_t ts_ns = 0) noexcept;
  /// Applies the producer's on-full policy: block until there is space, or drop.
  [[nodiscard]] WriteResult write(std::span<const std::byte> payload,
                                  std::int64_t ts_ns = 0) noexcept;
  /// Writes a record with TEXT/BLOB columns: `fixed` is the fixed part (type's size);
  /// `tails` fill the variable columns in declaration order; their offset/length words in
  /// the fixed part are set here. Non-blocking.
  [[nodiscard]] WriteResult try_write_var(std::span<const std::byte> fixed,
                                          std::span<const std::string_view> tails,
                                          std::int64_t ts_ns = 0) noexcept;
  [[nodiscard]] WriteResult write_var(std::span<const std::byte> fixed,
                                      std::span<const std::string_view> tails,
                                      std::chrono::nanoseconds timeout,
                                      std::int64_t ts_ns = 0) noexcept;

  const RecordType& type() const noexcept { return *type_; }

 private:
  friend class Producer;
  RawWriter(detail::ProducerCore* core, const RecordType* type) : core_(core), type_(type) {}
  detail::ProducerCore* core_ = nullptr;
  const RecordType* type_ = nullptr;
};

/// Writes records of type T: a trivially copyable struct with the schema's layout (as
/// `ringlite schema header` generates it).
template <class T>
class Writer {
  static_assert(std::is_trivially_copyable_v<T>, "a record must be trivially copyable");

 public:
  Writer() = default;
  [[nodiscard]] WriteResult try_write(const T& rec, std::int64_t ts_ns = 0) noexcept {
    return raw_.try_write(bytes(rec), ts_ns);
  }
  [[nodiscard]] WriteResult write(const T& rec, std::chrono::nanoseconds timeout,
                                  std::int64_t ts_ns = 0) noexcept {
    return raw_.write(bytes(rec), timeout, ts_ns);
  }
  [[nodiscard]] WriteResult write(const T& rec, std::int64_t ts_ns = 0) noexcept {
    return raw_.write(bytes(rec), ts_ns);
  }
  /// For types with TEXT/BLOB columns: the variable values, in column order.
  [[nodiscard]] WriteResult try_write(const T& rec, std::initializer_list<std::string_view> tails,
                                      std::int64_t ts_ns = 0) noexcept {
    return raw_.try_write_var(
        bytes(rec), std::span<const std::string_view>(tails.begin(), tails.size()), ts_ns);
  }
  [[nodiscard]] WriteResult write(const T& rec, std::initializer_list<std::string_view> tails,
                                  std::chrono::nanoseconds timeout,
                                  std::int64_t ts_ns = 0) noexcept {
    return raw_.write_var(
        bytes(rec), std::span<const std::string_view>(tails.begin(), tails.size()), timeout, ts_ns);
  }
  const RecordType& type() const noexcept { return raw_.type(); }

 private:
  friend class Producer;
  explicit Writer(RawWriter raw) : raw_(raw) {}
  static std::span<const std::byte> bytes(const T& rec) noexcept {
    return {reinterpret_cast<const std::byte*>(&rec), sizeof(T)};
  }
  RawWriter raw_;
};

namespace detail {
template <class T, class = void>
struct layout_of {
  static constexpr const char* value = nullptr;
};
template <class T>
struct layout_of<T, std::void_t<decltype(T::kRingliteLayout)>> {
  static constexpr const char* value = T::kRingliteLayout;
};
}  // namespace detail

class Producer {
 public:
  /// Opens the configured ring read-write and takes a row in its producer table.
  /// Throws Error(not_found) if there is no ring, Error(busy) if the table is full.
  static Producer open(const RingOptions& options, OnFull on_full = OnFull::block);
  explicit Producer(Ring ring, OnFull on_full = OnFull::block);
  Producer(Producer&&) noexcept;
  Producer& operator=(Producer&&) noexcept;
  ~Producer();  ///< releases the table row; never throws

  /// A writer for `type`, checked once against the ring's schema: sizeof/alignof, and the
  /// generated header's layout signature when T has one. Throws Error(schema) on mismatch.
  template <class T>
  Writer<T> writer(std::string_view type) {
    const RecordType& rt = check_type(type, sizeof(T), alignof(T), detail::layout_of<T>::value);
    return Writer<T>(RawWriter(core_.get(), &rt));
  }
  /// An unchecked writer (payloads are raw bytes): for tools that handle any type.
  /// Throws Error(schema) if the ring has no such type.
  RawWriter raw_writer(std::string_view type);

  /// Gives the table row back; later writes return `closed`.
  void close() noexcept;
  std::uint32_t slot() const noexcept;
  const Ring& ring() const noexcept;
  OnFull on_full() const noexcept;
  /// True when writes without a ts_ns are stamped from the CPU's TSC through the ring's
  /// shared calibration; false when they call clock_gettime(CLOCK_REALTIME): no reliable
  /// TSC (or not x86-64), or RINGLITE_CLOCK=realtime in the environment when the producer
  /// was opened. Either way stamps are Unix-epoch ns and never go backwards (docs/design.md,
  /// "Timestamps").
  bool tsc_clock() const noexcept;

 private:
  const RecordType& check_type(std::string_view type, std::size_t size, std::size_t align,
                               const char* layout) const;
  std::unique_ptr<detail::ProducerCore> core_;
};

}  // namespace ringlite
