#pragma once
// The contract of uploads::BlobStore (src/uploads/blob_store.h), written once
// and run for every backend: files in a folder, and PostgreSQL (instantiated
// in store_contract_postgres_test.cc, which owns the throwaway server).
//
//   INSTANTIATE_TEST_SUITE_P(Files, BlobStoreContract,
//                            ::testing::Values(BlobBackend{"files", make}), BlobBackendName);
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "uploads/blob_store.h"

namespace parley::uploads::contract {

struct BlobBackend {
  std::string name;  // a test-name suffix: letters, digits, underscores
  // A blob store on fresh, empty storage. Called once at the start of every test.
  std::function<std::unique_ptr<BlobStore>()> make;
};

inline std::string BlobBackendName(const ::testing::TestParamInfo<BlobBackend>& info) {
  return info.param.name;
}

inline void PrintTo(const BlobBackend& backend, std::ostream* os) { *os << backend.name; }

// The fixture: `blobs_` is fresh for each test. Owned by the gtest thread.
class BlobStoreContract : public ::testing::TestWithParam<BlobBackend> {
 protected:
  void SetUp() override;
  void TearDown() override { blobs_.reset(); }

  // Writes `bytes` in pieces of `piece` bytes and commits them at `now`;
  // returns their sha256 ("" and a test failure when refused).
  std::string Put(const std::string& bytes, TimeMs now, size_t piece = 100 * 1024);

  std::unique_ptr<BlobStore> blobs_;
};

}  // namespace parley::uploads::contract
