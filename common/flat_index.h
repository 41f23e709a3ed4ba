// FlatIndex: a hash index of pointers to objects that carry their own key, by open addressing
// (linear probing, backward-shift deletion, load factor <= 1/2). A slot holds the key's 64-bit
// hash and the pointer, so a lookup reads one slot array line and touches the object only on a
// hash match; std::unordered_map walks a chain of separately allocated nodes and reads each key
// through a pointer, which cost the trace registry's cache a fifth of its time at 2 M traces
// (docs/PERFORMANCE.md). Not owning; the caller supplies well-mixed hashes (e.g. XXH64).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace spanpipe {

template <class T, std::string_view (*KeyOf)(const T&)>
class FlatIndex {
 public:
  explicit FlatIndex(size_t expected = 8) { Rehash(CapacityFor(expected)); }

  T* Find(std::string_view key, uint64_t hash) const {
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.item == nullptr) return nullptr;
      if (s.hash == hash && KeyOf(*s.item) == key) return s.item;
    }
  }

  // Batched lookups: prefetching the slots of a batch's hashes first, then the items they point
  // to (PeekHash), overlaps the batch's cache misses instead of taking them one after another.
  void Prefetch(uint64_t hash) const { __builtin_prefetch(&slots_[hash & mask_]); }
  // The first item in hash's probe run that has this hash (likely, not surely, its key's).
  T* PeekHash(uint64_t hash) const {
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.item == nullptr || s.hash == hash) return s.item;
    }
  }

  // The item's key must not be in the index.
  void Insert(T* item, uint64_t hash) {
    if (2 * (size_ + 1) > slots_.size()) Rehash(2 * slots_.size());
    Place(item, hash);
    ++size_;
  }

  // Removes and returns the item with this key, or nullptr.
  T* Erase(std::string_view key, uint64_t hash) {
    size_t i = hash & mask_;
    for (;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.item == nullptr) return nullptr;
      if (s.hash == hash && KeyOf(*s.item) == key) break;
    }
    T* found = slots_[i].item;
    // Backward shift: pull later entries of the probe run into the hole, so that no lookup ever
    // stops early at it (no tombstones to accumulate).
    for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      Slot& s = slots_[j];
      if (s.item == nullptr) break;
      const size_t home = s.hash & mask_;
      if (((j - home) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = s;
        i = j;
      }
    }
    slots_[i] = Slot{};
    --size_;
    return found;
  }

  size_t size() const { return size_; }

  // Empties the index for about `expected` items, keeping the slot array's memory.
  void Reset(size_t expected) {
    slots_.assign(CapacityFor(expected), Slot{});
    mask_ = slots_.size() - 1;
    size_ = 0;
  }

  template <class F>
  void ForEach(F f) const {
    for (const Slot& s : slots_)
      if (s.item != nullptr) f(s.item);
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    T* item = nullptr;
  };

  static size_t CapacityFor(size_t expected) {
    size_t c = 16;
    while (c < 2 * expected) c *= 2;
    return c;
  }

  void Place(T* item, uint64_t hash) {
    size_t i = hash & mask_;
    while (slots_[i].item != nullptr) i = (i + 1) & mask_;
    slots_[i] = Slot{hash, item};
  }

  void Rehash(size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    for (const Slot& s : old)
      if (s.item != nullptr) Place(s.item, s.hash);
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace spanpipe
