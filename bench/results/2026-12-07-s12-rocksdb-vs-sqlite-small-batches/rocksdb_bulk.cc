// rocksdb-bulk: sqlite-bulk's rows (bench/sqlite_bulk.cc) in RocksDB, as a
// message store would keep them: per row, a message key (conv, seq) and a
// de-duplication key (sender, client_msg_id) that is read first (a store
// must refuse a second (sender, client_msg_id)); one WriteBatch per batch,
// written with sync = true (durable before `sent`, like synchronous=FULL).
// Not part of the build: compiled by the command in this folder's README.
//   rocksdb-bulk [--path DIR] [--rows N] [--batch B] [--body-bytes N] [--convs C]
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

void PutBig(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

void Check(const rocksdb::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = "rocksdb-bulk.db";
  long rows = 200000, batch = 1000, body_bytes = 64, convs = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--path")
      path = argv[i + 1];
    else if (k == "--rows")
      rows = std::atol(argv[i + 1]);
    else if (k == "--batch")
      batch = std::atol(argv[i + 1]);
    else if (k == "--body-bytes")
      body_bytes = std::atol(argv[i + 1]);
    else if (k == "--convs")
      convs = std::atol(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  std::filesystem::remove_all(path);
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  Check(rocksdb::DB::Open(options, path, &db), "open");
  rocksdb::WriteOptions sync;
  sync.sync = true;
  rocksdb::ReadOptions read;
  const std::string body(static_cast<size_t>(body_bytes), 'x');
  std::vector<long> seq(static_cast<size_t>(convs), 0);
  auto t0 = std::chrono::steady_clock::now();
  long done = 0, commits = 0;
  std::string value;
  while (done < rows) {
    rocksdb::WriteBatch wb;
    for (long i = 0; i < batch && done < rows; ++i, ++done) {
      const long conv = done % convs;
      const long sender = (done * 7) % (convs * 10);
      const std::string cmid = "c-" + std::to_string(done);
      std::string dedupe = "d";
      PutBig(&dedupe, static_cast<uint64_t>(sender + 1));
      dedupe += cmid;
      const rocksdb::Status found = db->Get(read, dedupe, &value);
      if (!found.IsNotFound()) {
        std::fprintf(stderr, "dedupe key present or read failed: %s\n", found.ToString().c_str());
        return 1;
      }
      const long s = ++seq[static_cast<size_t>(conv)];
      std::string key = "m";
      PutBig(&key, static_cast<uint64_t>(conv + 1));
      PutBig(&key, static_cast<uint64_t>(s));
      std::string row;
      PutBig(&row, static_cast<uint64_t>(1000000 + done));        // id
      PutBig(&row, static_cast<uint64_t>(sender + 1));            // sender
      PutBig(&row, static_cast<uint64_t>(1700000000000 + done));  // ts
      row.push_back(static_cast<char>(cmid.size()));
      row += cmid;
      row += body;
      wb.Put(key, row);
      std::string where;
      PutBig(&where, static_cast<uint64_t>(conv + 1));
      PutBig(&where, static_cast<uint64_t>(s));
      wb.Put(dedupe, where);
    }
    Check(db->Write(sync, &wb), "write");
    ++commits;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "{\"rows\":%ld,\"batch\":%ld,\"body_bytes\":%ld,\"commits\":%ld,\"seconds\":%.3f,\"rows_per_s\":%.0f,"
      "\"commits_per_s\":%.0f,\"path\":\"%s\"}\n",
      rows, batch, body_bytes, commits, secs, rows / secs, commits / secs, path.c_str());
  delete db;
  std::filesystem::remove_all(path);
  return 0;
}
