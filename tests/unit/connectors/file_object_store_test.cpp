#include "connectors/file_object_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "connectors/object_store.h"

namespace spanpipe {
namespace {
namespace fs = std::filesystem;

class FileObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("spanpipe_fos_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    ObjectStoreOptions o;
    o.url = "file://" + root_.string();
    ASSERT_TRUE(OpenObjectStore(o, &store_).ok());
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(FileObjectStoreTest, PutGetRangeOverwrite) {
  std::string bytes(100000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(store_->Put("packs/abc", bytes).ok());
  EXPECT_TRUE(fs::exists(root_ / "packs" / "abc"));
  std::string got;
  ASSERT_TRUE(store_->Get("packs/abc", &got).ok());
  EXPECT_TRUE(got == bytes);
  ASSERT_TRUE(store_->GetRange("packs/abc", 12345, 999, &got).ok());
  EXPECT_TRUE(got == bytes.substr(12345, 999));
  ASSERT_TRUE(store_->GetRange("packs/abc", 0, bytes.size(), &got).ok());
  EXPECT_TRUE(got == bytes);
  ASSERT_TRUE(store_->Put("packs/abc", "short").ok());
  ASSERT_TRUE(store_->Get("packs/abc", &got).ok());
  EXPECT_EQ(got, "short");
  ASSERT_TRUE(store_->Put("empty", "").ok());
  ASSERT_TRUE(store_->Get("empty", &got).ok());
  EXPECT_EQ(got, "");
  EXPECT_EQ(store_->puts(), 3u);
}

TEST_F(FileObjectStoreTest, MissingObjectsAndBadRanges) {
  std::string got;
  EXPECT_TRUE(store_->Get("nope", &got).IsNotFound());
  EXPECT_TRUE(store_->GetRange("nope", 0, 1, &got).IsNotFound());
  ASSERT_TRUE(store_->Put("x", "0123456789").ok());
  EXPECT_TRUE(store_->GetRange("x", 5, 6, &got).IsCorruption());
  EXPECT_TRUE(store_->GetRange("x", 11, 1, &got).IsCorruption());
  // A hostile length must not allocate it before checking the object's size.
  EXPECT_TRUE(store_->GetRange("x", 0, uint64_t{1} << 62, &got).IsCorruption());
  EXPECT_TRUE(store_->GetRange("x", 10, 0, &got).ok());
}

TEST_F(FileObjectStoreTest, KeysMustStayUnderTheRoot) {
  for (const char* k : {"", "/etc/passwd", "../outside", "a/../../b"})
    EXPECT_TRUE(store_->Put(k, "x").IsInvalidArgument()) << k;
  EXPECT_FALSE(fs::exists(root_.parent_path() / "outside"));
}

TEST_F(FileObjectStoreTest, ListByPrefixSortedWithoutTempFiles) {
  for (const char* k :
       {"manifests/p/t1/b", "manifests/p/t1/a", "manifests/p/t10/a", "manifests/q/t1/a", "packs/1"})
    ASSERT_TRUE(store_->Put(k, k).ok());
  // A writer that crashed before its rename leaves a temp file behind: never listed.
  fs::create_directories(root_ / "manifests/p/t1");
  { std::ofstream(root_ / "manifests/p/t1/c.spanpipe-tmp.123") << "partial"; }
  std::vector<std::string> keys;
  ASSERT_TRUE(store_->List("manifests/p/t1/", &keys).ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"manifests/p/t1/a", "manifests/p/t1/b"}));
  ASSERT_TRUE(store_->List("manifests/p/t1", &keys).ok());
  EXPECT_EQ(keys.size(), 3u);  // a plain prefix, as S3 means it: t1/ and t10/
  ASSERT_TRUE(store_->List("manifests/", &keys).ok());
  EXPECT_EQ(keys.size(), 4u);
  ASSERT_TRUE(store_->List("nothing/here/", &keys).ok());
  EXPECT_TRUE(keys.empty());
  ASSERT_TRUE(store_->List("", &keys).ok());
  EXPECT_EQ(keys.size(), 5u);
}

TEST_F(FileObjectStoreTest, RejectsUnknownSchemes) {
  ObjectStoreOptions o;
  o.url = "ftp://x/y";
  std::unique_ptr<ObjectStore> s;
  EXPECT_TRUE(OpenObjectStore(o, &s).IsInvalidArgument());
}

}  // namespace
}  // namespace spanpipe
