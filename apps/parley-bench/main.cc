// parley-bench: the load generator of BENCH.md. See src/loadgen/.
#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "auth/token_signer.h"
#include "loadgen/options.h"
#include "loadgen/results.h"
#include "loadgen/runner.h"
#include "loadgen/search_workload.h"

namespace {

void RaiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace parley;
  std::string message;
  int code = 0;
  auto opts = loadgen::ParseOptions(argc, argv, &message, &code);
  if (!opts) {
    std::fputs(message.c_str(), code == 0 ? stdout : stderr);
    return code;
  }
  RaiseFileLimit();
  std::unique_ptr<auth::TokenSigner> signer;
  const bool key_mode = opts->target.empty();
  if (!opts->issuer_key.empty() && std::filesystem::exists(opts->issuer_key)) {
    auto s = auth::TokenSigner::FromPemFile(opts->issuer_key);
    if (!s) {
      std::fprintf(stderr, "cannot read --issuer-key %s\n", opts->issuer_key.c_str());
      return 2;
    }
    signer = std::move(s).value();
  } else if (opts->dialect == loadgen::Dialect::kParley || key_mode) {
    auto s = auth::TokenSigner::Generate();
    if (!s) {
      std::fprintf(stderr, "cannot generate an issuer key\n");
      return 2;
    }
    signer = std::move(s).value();
    if (!opts->issuer_key.empty()) {
      std::ofstream(opts->issuer_key) << signer->PrivateKeyPem();
      std::filesystem::permissions(opts->issuer_key,
                                   std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    }
  }
  if (!opts->write_issuer_pubkey.empty() && signer) {
    std::ofstream(opts->write_issuer_pubkey) << signer->PublicKeyPem();
  }
  if (key_mode) return 0;

  if (opts->workload == loadgen::Workload::kSearch) {
    std::string table, json;
    const int rc = loadgen::RunSearchBench(*opts, signer.get(), &table, &json);
    std::fputs(table.c_str(), stdout);
    if (!opts->json_out.empty() && !json.empty() && !(std::ofstream(opts->json_out) << json)) {
      std::fprintf(stderr, "cannot write %s\n", opts->json_out.c_str());
      return 2;
    }
    return rc;
  }
  loadgen::BenchResult result;
  int rc = loadgen::RunBench(*opts, signer.get(), &result);
  std::fputs(loadgen::HumanTable(*opts, result).c_str(), stdout);
  if (!opts->json_out.empty()) {
    std::ofstream out(opts->json_out);
    out << loadgen::ToJsonText(*opts, result);
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", opts->json_out.c_str());
      return 2;
    }
  }
  return rc;
}
