// std::vector storage for the large arrays of the hot loops (crosscoder parameters, moments and
// gradients, the [B, F] encoder output): 64-byte aligned, so a 16-float vector never straddles two
// cache lines (the encoder GEMM ran 3 % slower into a 16-byte aligned output), and, from 2 MiB up,
// aligned to 2 MiB and advised as transparent huge pages (madvise MADV_HUGEPAGE, before the first
// touch): the sparse kernels read 256-byte pieces of [16384, 2048] matrices 8 KiB apart, one 4 KiB
// page each, and in a virtual machine every TLB miss is a two-level page walk. The advice is a
// hint; where THP is off or refused, the memory is ordinary pages.
//
// AlignedArray<T> / aligned_array<T>(n) is the scratch form for packing buffers: n elements, 64-byte
// aligned, NOT initialised (the kernels overwrite them; zeroing 32 MiB per GEMM call costs a pass).
//
// Ownership: the vector or array owns its memory. Thread-safety: as std::vector / unique_ptr.
// Failure: std::bad_alloc.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace ct {

template <typename T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr size_t kLine = 64, kHugePage = size_t{2} << 20;

  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) {}  // NOLINT: rebinding is implicit by design

  static size_t alignment(size_t bytes) { return bytes >= kHugePage ? kHugePage : kLine; }

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    void* p = ::operator new(bytes, std::align_val_t(alignment(bytes)));
    if (bytes >= kHugePage) {
      // Whole huge pages only: the tail past the last 2 MiB boundary may share a page with
      // another allocation.
      const size_t whole = bytes / kHugePage * kHugePage;
      (void)madvise(p, whole, MADV_HUGEPAGE);
    }
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) { ::operator delete(p, std::align_val_t(alignment(n * sizeof(T)))); }

  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const {
    return true;
  }
};

template <typename T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

struct AlignedArrayDeleter {
  template <typename T>
  void operator()(T* p) const {
    ::operator delete[](p, std::align_val_t(64));
  }
};
template <typename T>
using AlignedArray = std::unique_ptr<T[], AlignedArrayDeleter>;

template <typename T>
AlignedArray<T> aligned_array(int64_t n) {
  static_assert(std::is_trivially_default_constructible_v<T> && std::is_trivially_destructible_v<T>);
  return AlignedArray<T>(static_cast<T*>(::operator new[](sizeof(T) * static_cast<size_t>(n), std::align_val_t(64))));
}

}  // namespace ct
