// The executables allocate through jemalloc when built with SPANPIPE_MALLOC=jemalloc (the
// default; CMakeLists.txt): linking it is not enough, its malloc must be the one that runs.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#ifdef SPANPIPE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

namespace spanpipe {
namespace {

#ifdef SPANPIPE_JEMALLOC
uint64_t ThreadAllocatedBytes() {
  uint64_t n = 0;
  size_t size = sizeof n;
  EXPECT_EQ(mallctl("thread.allocated", &n, &size, nullptr, 0), 0);
  return n;
}

TEST(Allocator, MallocAndNewGoThroughJemalloc) {
  const uint64_t before = ThreadAllocatedBytes();
  void* p = std::malloc(1 << 20);
  ASSERT_NE(p, nullptr);
  const uint64_t after_malloc = ThreadAllocatedBytes();
  std::free(p);
  EXPECT_GE(after_malloc - before, uint64_t{1} << 20) << "malloc did not reach jemalloc";
  auto* s = new std::string(1 << 20, 'x');
  EXPECT_GE(ThreadAllocatedBytes() - after_malloc, uint64_t{1} << 20) << "new did not";
  delete s;
}
#endif  // with the system allocator there is nothing of ours to check

}  // namespace
}  // namespace spanpipe
