// The blob store contract run against the files backend, each test in a
// fresh temporary folder removed at exit.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "blob_contract.h"
#include "uploads/file_blob_store.h"

namespace parley::uploads::contract {
namespace {

// The folders this process made; removed at exit.
class TempDirs {
 public:
  ~TempDirs() {
    std::error_code ec;
    for (const auto& dir : dirs_) std::filesystem::remove_all(dir, ec);
  }
  std::string New() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/parley-blobs-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) return {};
    dirs_.emplace_back(buf.data());
    return dirs_.back();
  }

 private:
  std::vector<std::string> dirs_;
};

std::unique_ptr<BlobStore> OpenFiles() {
  static TempDirs temp;
  const std::string dir = temp.New();
  if (dir.empty()) {
    ADD_FAILURE() << "cannot create a temporary folder";
    return nullptr;
  }
  auto blobs = OpenFileBlobStore(dir + "/uploads");
  if (!blobs.ok()) {
    ADD_FAILURE() << "OpenFileBlobStore: " << blobs.error().message;
    return nullptr;
  }
  return std::move(blobs).value();
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Files, BlobStoreContract, ::testing::Values(BlobBackend{"files", OpenFiles}),
                         BlobBackendName);

}  // namespace parley::uploads::contract
