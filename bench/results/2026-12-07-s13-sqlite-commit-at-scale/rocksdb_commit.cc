// rocksdb-commit: what SqliteStore::CommitBatch reads and writes for a text
// message, in RocksDB, as a message store on it would keep it, to compare
// with commit-bench on a store of the same size. Per message: the
// de-duplication key (sender, client_msg_id) read first, the conversation's
// row (last_seq, last activity) read once per batch, the sender's membership
// read once per batch (role and read marker), the block a DM would check;
// then the entry (conv, seq), its de-duplication key, and once per batch the
// conversation's row and the sender's read marker. One WriteBatch per batch
// of B messages, written with sync = true (durable before `sent`). Not in it:
// the search index (SQLite's FTS5 costs about 5% of the commit, see README).
// Keys are big-endian, so one conversation's entries are adjacent. Client
// ids are 32 random hex digits, as the web SDK makes them.
// Not part of the build: compiled by this folder's run.sh.
//   rocksdb-commit [--path DIR] [--rows N] [--batch B] [--body-bytes N]
//                  [--convs C] [--report-every R]
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

void PutBig(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

uint64_t GetBig(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

std::string Key(char kind, uint64_t a, uint64_t b = 0) {
  std::string k(1, kind);
  PutBig(&k, a);
  if (b) PutBig(&k, b);
  return k;
}

void Check(const rocksdb::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = "rocksdb-commit.db";
  long rows = 200000, batch = 16, body_bytes = 64, convs = 1000, report_every = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    long v = std::atol(argv[i + 1]);
    if (k == "--path") {
      path = argv[i + 1];
    } else if (k == "--rows") {
      rows = v;
    } else if (k == "--batch") {
      batch = v;
    } else if (k == "--body-bytes") {
      body_bytes = v;
    } else if (k == "--convs") {
      convs = v;
    } else if (k == "--report-every") {
      report_every = v;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  std::filesystem::remove_all(path);
  rocksdb::Options options;
  options.create_if_missing = true;
  // Point reads of keys that are mostly absent (every new client id):
  // a Bloom filter per table file, as a store on RocksDB would configure.
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* db = nullptr;
  Check(rocksdb::DB::Open(options, path, &db), "open");
  rocksdb::WriteOptions sync;
  sync.sync = true;
  rocksdb::ReadOptions read;

  // Ten members per conversation; each conversation's sender is its first.
  {
    rocksdb::WriteBatch wb;
    for (long c = 1; c <= convs; ++c) {
      std::string meta;
      PutBig(&meta, 0);
      PutBig(&meta, 0);
      wb.Put(Key('c', static_cast<uint64_t>(c)), meta);
      for (long m = 0; m < 10; ++m) {
        std::string member(1, 'm');  // role, then the read marker
        PutBig(&member, 0);
        wb.Put(Key('u', static_cast<uint64_t>(c), static_cast<uint64_t>(c * 10 + m)), member);
      }
    }
    Check(db->Write(sync, &wb), "setup");
  }

  std::mt19937_64 rng(std::random_device{}());
  const std::string body(static_cast<size_t>(body_bytes), 'x');
  auto t0 = std::chrono::steady_clock::now();
  auto at = t0;
  double cpu_at = CpuSeconds();
  long done = 0, commits = 0, next_report = report_every;
  std::string value;
  while (done < rows) {
    rocksdb::WriteBatch wb;
    struct Conv {
      uint64_t last_seq, last_ts;
    };
    std::map<uint64_t, Conv> conv_rows;
    std::map<std::pair<uint64_t, uint64_t>, uint64_t> read_marks;
    for (long i = 0; i < batch && done < rows; ++i, ++done) {
      const uint64_t conv = static_cast<uint64_t>(done % convs + 1);
      const uint64_t sender = conv * 10;
      char cmid[33];
      std::snprintf(cmid, sizeof(cmid), "%016llx%016llx", static_cast<unsigned long long>(rng()),
                    static_cast<unsigned long long>(rng()));
      std::string dedupe = Key('d', sender);
      dedupe += cmid;
      rocksdb::Status found = db->Get(read, dedupe, &value);
      if (!found.IsNotFound()) {
        std::fprintf(stderr, "dedupe key present or read failed: %s\n", found.ToString().c_str());
        return 1;
      }
      auto it = conv_rows.find(conv);
      if (it == conv_rows.end()) {
        Check(db->Get(read, Key('c', conv), &value), "conversation");
        it = conv_rows.emplace(conv, Conv{GetBig(value, 0), GetBig(value, 8)}).first;
      }
      const auto member_key = std::make_pair(conv, sender);
      if (!read_marks.count(member_key)) {
        Check(db->Get(read, Key('u', conv, sender), &value), "membership");
        // A group: the DM block check of CommitBatch is one more point read.
        found = db->Get(read, Key('b', conv, sender), &value);
        if (!found.IsNotFound()) Check(found, "block");
      }
      const uint64_t seq = ++it->second.last_seq;
      const uint64_t ts = 1700000000000ULL + static_cast<uint64_t>(done);
      it->second.last_ts = ts;
      std::string row;
      PutBig(&row, 1000000 + static_cast<uint64_t>(done));  // id
      PutBig(&row, sender);
      PutBig(&row, ts);
      row.push_back(0);  // kind: text
      row.push_back(static_cast<char>(sizeof(cmid) - 1));
      row.append(cmid, sizeof(cmid) - 1);
      row += body;
      wb.Put(Key('e', conv, seq), row);
      wb.Put(dedupe, Key('e', conv, seq).substr(1));
      read_marks[member_key] = seq;
    }
    for (const auto& [conv, state] : conv_rows) {
      std::string meta;
      PutBig(&meta, state.last_seq);
      PutBig(&meta, state.last_ts);
      wb.Put(Key('c', conv), meta);
    }
    for (const auto& [key, seq] : read_marks) {
      std::string member(1, 'm');
      PutBig(&member, seq);
      wb.Put(Key('u', key.first, key.second), member);
    }
    Check(db->Write(sync, &wb), "write");
    ++commits;
    if (report_every > 0 && done >= next_report) {
      auto now = std::chrono::steady_clock::now();
      double cpu = CpuSeconds();
      std::printf("{\"stored\":%ld,\"rows_per_s\":%.0f,\"cpu_us_per_row\":%.1f}\n", done,
                  static_cast<double>(report_every) / std::chrono::duration<double>(now - at).count(),
                  (cpu - cpu_at) * 1e6 / static_cast<double>(report_every));
      std::fflush(stdout);
      at = now;
      cpu_at = cpu;
      next_report += report_every;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "{\"rows\":%ld,\"batch\":%ld,\"body_bytes\":%ld,\"commits\":%ld,\"seconds\":%.3f,\"rows_per_s\":%.0f,"
      "\"commits_per_s\":%.0f,\"path\":\"%s\"}\n",
      rows, batch, body_bytes, commits, secs, static_cast<double>(rows) / secs,
      static_cast<double>(commits) / secs, path.c_str());
  delete db;
  return 0;
}
