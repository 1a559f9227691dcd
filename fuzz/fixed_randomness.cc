#include "fixed_randomness.h"

// RAND_set_rand_method is deprecated in OpenSSL 3 but still honoured by
// RAND_bytes and RAND_priv_bytes, which key generation and ECDSA use; it is
// the one hook that replaces the default provider's DRBG for the process.
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/rand.h>
#include <sodium.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace parley::fuzz {
namespace {

// splitmix64: a fixed, well-mixed stream; nothing here needs to be secret.
uint64_t state = 0x5eed'f022'2026'1128;

uint64_t Next() {
  uint64_t z = (state += 0x9e37'79b9'7f4a'7c15);
  z = (z ^ (z >> 30)) * 0xbf58'476d'1ce4'e5b9;
  z = (z ^ (z >> 27)) * 0x94d0'49bb'1331'11eb;
  return z ^ (z >> 31);
}

void Fill(void* buf, size_t size) {
  auto* out = static_cast<unsigned char*>(buf);
  while (size > 0) {
    const uint64_t word = Next();
    const size_t n = size < sizeof word ? size : sizeof word;
    std::memcpy(out, &word, n);
    out += n;
    size -= n;
  }
}

const char* SodiumName() { return "parley-fuzz-fixed"; }
uint32_t SodiumRandom() { return static_cast<uint32_t>(Next()); }
void SodiumBuf(void* buf, size_t size) { Fill(buf, size); }

randombytes_implementation sodium_source = {
    .implementation_name = SodiumName,
    .random = SodiumRandom,
    .stir = nullptr,
    .uniform = nullptr,  // libsodium derives it from random()
    .buf = SodiumBuf,
    .close = nullptr,
};

int OpensslBytes(unsigned char* buf, int num) {
  Fill(buf, static_cast<size_t>(num));
  return 1;
}
int OpensslStatus() { return 1; }

const RAND_METHOD openssl_source = {
    .seed = nullptr,
    .bytes = OpensslBytes,
    .cleanup = nullptr,
    .add = nullptr,
    .pseudorand = OpensslBytes,
    .status = OpensslStatus,
};

}  // namespace

void FixRandomness() {
  if (randombytes_set_implementation(&sodium_source) != 0 || sodium_init() < 0 ||
      RAND_set_rand_method(&openssl_source) != 1) {
    std::fputs("fuzz: cannot fix the randomness sources\n", stderr);
    std::abort();
  }
}

}  // namespace parley::fuzz
