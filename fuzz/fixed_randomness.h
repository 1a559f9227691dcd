#pragma once
// Makes a fuzz target's randomness a fixed sequence, so that a run with a
// fixed seed and run count (scripts/fuzz ci) explores the same inputs every
// time: the code under test draws random bytes (libsodium for refresh
// tokens and password salts, OpenSSL for keys and ECDSA nonces), and those
// bytes reach comparisons that steer libFuzzer's mutations. Fuzz builds
// only: the bytes are predictable.
//
// Call once, first thing in LLVMFuzzerInitialize: libsodium takes a new
// source only before sodium_init().
namespace parley::fuzz {

void FixRandomness();

}  // namespace parley::fuzz
