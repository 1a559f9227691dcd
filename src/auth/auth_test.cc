#include "auth/auth.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "auth/base64url.h"
#include "common/clock.h"

namespace parley::auth {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------- usernames

TEST(TokenIssuer, CarriesTheTokenEpoch) {
  ManualClock clock;
  TokenIssuer issuer(std::string(64, 'e'), 900, clock);
  auto with = issuer.Verify(issuer.Issue(UserId(7), "alice", 3));
  ASSERT_TRUE(with) << with.error().message;
  EXPECT_EQ(with->epoch, 3);
  auto plain = issuer.Verify(issuer.Issue(UserId(7), "alice"));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->epoch, 0);
}

TEST(FoldUsername, FoldsUpperCase) {
  auto r = FoldUsername("Alice_B.C-9");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "alice_b.c-9");
}

TEST(FoldUsername, LengthBounds) {
  EXPECT_FALSE(FoldUsername("ab").ok());
  EXPECT_TRUE(FoldUsername("abc").ok());
  EXPECT_TRUE(FoldUsername(std::string(32, 'a')).ok());
  auto r = FoldUsername(std::string(33, 'a'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kBadRequest);
  EXPECT_NE(r.error().message.find("3 to 32"), std::string::npos);
  EXPECT_FALSE(FoldUsername("").ok());
}

TEST(FoldUsername, RejectsBadCharacters) {
  for (std::string_view bad : std::initializer_list<std::string_view>{
           "al ice", "alice!", "al@ce", "ali/ce", "alice\n", std::string_view("ali\0ce", 6), "caf\xc3\xa9",
           "\xc3\x84rger", "a+b",
           "\xef\xbc\xa1"
           "bc"}) {
    auto r = FoldUsername(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, Errc::kBadRequest);
    }
  }
}

// ---------------------------------------------------------------- passwords

TEST(CheckPassword, ByteBounds) {
  EXPECT_FALSE(CheckPassword(std::string(7, 'x')).ok());
  EXPECT_TRUE(CheckPassword(std::string(8, 'x')).ok());
  EXPECT_TRUE(CheckPassword(std::string(1024, 'x')).ok());
  auto r = CheckPassword(std::string(1025, 'x'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kBadRequest);
}

TEST(CheckPassword, CountsBytesNotCharacters) {
  // Four characters, eight bytes: accepted.
  EXPECT_TRUE(CheckPassword("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9").ok());
  // Seven characters, seven bytes: rejected; three 2-byte characters + 1 = 7 bytes too.
  EXPECT_FALSE(CheckPassword("\xc3\xa9\xc3\xa9\xc3\xa9x").ok());
  // 512 two-byte characters = 1024 bytes fine, 513 = 1026 bytes too long.
  std::string e;
  for (int i = 0; i < 512; ++i) e += "\xc3\xa9";
  EXPECT_TRUE(CheckPassword(e).ok());
  EXPECT_FALSE(CheckPassword(e + "\xc3\xa9").ok());
}

TEST(ParseStrength, Names) {
  EXPECT_EQ(*ParseStrength("min"), PasswordStrength::kMin);
  EXPECT_EQ(*ParseStrength("interactive"), PasswordStrength::kInteractive);
  EXPECT_EQ(*ParseStrength("moderate"), PasswordStrength::kModerate);
  EXPECT_EQ(*ParseStrength("sensitive"), PasswordStrength::kSensitive);
  EXPECT_FALSE(ParseStrength("Interactive").ok());
  EXPECT_FALSE(ParseStrength("").ok());
}

TEST(PasswordHasher, RoundTrip) {
  PasswordHasher hasher(PasswordStrength::kMin);
  auto h = hasher.Hash("correct horse battery");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u) << *h;
  EXPECT_TRUE(hasher.Verify(*h, "correct horse battery"));
  EXPECT_FALSE(hasher.Verify(*h, "correct horse batterY"));
  EXPECT_FALSE(hasher.Verify(*h, ""));
  // Salted: the same password hashes differently each time.
  auto h2 = hasher.Hash("correct horse battery");
  ASSERT_TRUE(h2.ok());
  EXPECT_NE(*h, *h2);
  EXPECT_TRUE(hasher.Verify(*h2, "correct horse battery"));
}

TEST(PasswordHasher, GarbageHashNeverVerifies) {
  PasswordHasher hasher(PasswordStrength::kMin);
  EXPECT_FALSE(hasher.Verify("", "password1"));
  EXPECT_FALSE(hasher.Verify("$argon2id$garbage", "password1"));
  EXPECT_FALSE(hasher.Verify(std::string(1000, '$'), "password1"));
  EXPECT_FALSE(hasher.Verify(std::string_view("$argon2id\0x", 11), "password1"));
}

// ---------------------------------------------------------------- base64url

TEST(Base64Url, KnownVectors) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  std::string out;
  ASSERT_TRUE(Base64UrlDecode("Zm9vYg", out));
  EXPECT_EQ(out, "foob");
  ASSERT_TRUE(Base64UrlDecode("-_8", out));
  EXPECT_EQ(out, "\xfb\xff");
}

TEST(Base64Url, RejectsBadInput) {
  std::string out;
  EXPECT_FALSE(Base64UrlDecode("Zg==", out));  // padding
  EXPECT_FALSE(Base64UrlDecode("Z", out));     // impossible length
  EXPECT_FALSE(Base64UrlDecode("Zm+v", out));  // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("Zh", out));    // non-zero trailing bits
  EXPECT_FALSE(Base64UrlDecode("Zm 9", out));
}

TEST(Base64Url, RoundTripAllLengths) {
  std::string data;
  for (int i = 0; i < 70; ++i) {
    std::string out;
    ASSERT_TRUE(Base64UrlDecode(Base64UrlEncode(data), out));
    EXPECT_EQ(out, data);
    data.push_back(static_cast<char>(i * 37));
  }
}

// ---------------------------------------------------------------- tokens

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef-test-secret";

std::string Part(const std::string& token, int i) {
  size_t start = 0;
  for (int k = 0; k < i; ++k) start = token.find('.', start) + 1;
  size_t end = token.find('.', start);
  return token.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string Decode(const std::string& b64) {
  std::string out;
  EXPECT_TRUE(Base64UrlDecode(b64, out));
  return out;
}

TEST(TokenIssuer, RoundTrip) {
  ManualClock clock(1'700'000'000'123);
  TokenIssuer issuer(kSecret, 900, clock);
  EXPECT_EQ(issuer.access_ttl_s(), 900);
  std::string token = issuer.Issue(UserId(42), "alice");
  EXPECT_EQ(Decode(Part(token, 0)), R"({"alg":"HS256","typ":"JWT"})");
  std::string payload = Decode(Part(token, 1));
  EXPECT_NE(payload.find(R"("sub":"42")"), std::string::npos) << payload;
  EXPECT_NE(payload.find(R"("typ":"access")"), std::string::npos) << payload;
  EXPECT_NE(payload.find(R"("iat":1700000000)"), std::string::npos) << payload;
  EXPECT_NE(payload.find(R"("exp":1700000900)"), std::string::npos) << payload;

  auto claims = issuer.Verify(token);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ(claims->user, UserId(42));
  EXPECT_EQ(claims->username, "alice");
  EXPECT_EQ(claims->issued_at, 1'700'000'000'000);
  EXPECT_EQ(claims->expires_at, 1'700'000'900'000);
}

TEST(TokenIssuer, Expired) {
  ManualClock clock;
  TokenIssuer issuer(kSecret, 60, clock);
  std::string token = issuer.Issue(UserId(7), "bob");
  clock.Advance(59'000);
  EXPECT_TRUE(issuer.Verify(token).ok());
  clock.Advance(1'000);
  auto r = issuer.Verify(token);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnauthorized);
  EXPECT_EQ(r.error().message, "token expired");
}

TEST(TokenIssuer, TamperedPayload) {
  ManualClock clock;
  TokenIssuer issuer(kSecret, 900, clock);
  std::string token = issuer.Issue(UserId(7), "bob");
  std::string payload = Decode(Part(token, 1));
  std::string evil = payload;
  evil.replace(evil.find(R"("sub":"7")"), 9, R"("sub":"1")");
  std::string forged = Part(token, 0) + "." + Base64UrlEncode(evil) + "." + Part(token, 2);
  auto r = issuer.Verify(forged);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnauthorized);
  EXPECT_EQ(r.error().message, "bad signature");

  // Flip one character of the signature.
  std::string sig = Part(token, 2);
  sig[3] = sig[3] == 'A' ? 'B' : 'A';
  r = issuer.Verify(Part(token, 0) + "." + Part(token, 1) + "." + sig);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnauthorized);
}

TEST(TokenIssuer, WrongSecret) {
  ManualClock clock;
  TokenIssuer issuer(kSecret, 900, clock);
  TokenIssuer other("another-secret-another-secret-another-secret", 900, clock);
  auto r = other.Verify(issuer.Issue(UserId(7), "bob"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnauthorized);
  EXPECT_EQ(r.error().message, "bad signature");
}

TEST(TokenIssuer, AlgNoneRejected) {
  ManualClock clock;
  TokenIssuer issuer(kSecret, 900, clock);
  std::string token = issuer.Issue(UserId(7), "bob");
  const std::string none_header = Base64UrlEncode(R"({"alg":"none","typ":"JWT"})");
  for (const std::string& forged : {none_header + "." + Part(token, 1) + ".",
                                    none_header + "." + Part(token, 1) + "." + Part(token, 2)}) {
    auto r = issuer.Verify(forged);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kUnauthorized);
    EXPECT_NE(r.error().message.find("unsupported algorithm"), std::string::npos) << r.error().message;
  }
  // Case games do not help either.
  auto r = issuer.Verify(Base64UrlEncode(R"({"alg":"hs256"})") + "." + Part(token, 1) + "." + Part(token, 2));
  EXPECT_FALSE(r.ok());
}

TEST(TokenIssuer, AlgHs512Rejected) {
  ManualClock clock;
  TokenIssuer issuer(kSecret, 900, clock);
  std::string token = issuer.Issue(UserId(7), "bob");
  const std::string header = Base64UrlEncode(R"({"alg":"HS512","typ":"JWT"})");
  auto r = issuer.Verify(header + "." + Part(token, 1) + "." + Part(token, 2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnauthorized);
  EXPECT_EQ(r.error().message, "unsupported algorithm \"HS512\"");
}

// The algorithm quoted in the message is cut at 16 bytes on a character
// boundary, so the message (sent to clients in JSON) stays valid UTF-8.
TEST(TokenIssuer, UnsupportedAlgorithmMessageCutsOnCharacters) {
  ManualClock clock;
  TokenIssuer issuer(kSecret, 900, clock);
  std::string token = issuer.Issue(UserId(7), "bob");
  const std::string alg = std::string(15, 'A') + "\xc3\xa9" + "B";  // U+00E9 at bytes 15..16
  const std::string header = Base64UrlEncode(R"({"alg":")" + alg + R"("})");
  auto r = issuer.Verify(header + "." + Part(token, 1) + "." + Part(token, 2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "unsupported algorithm \"" + std::string(15, 'A') + "\"");
}

TEST(TokenIssuer, GarbageRejected) {
  ManualClock clock;
  TokenIssuer issuer(kSecret, 900, clock);
  std::string token = issuer.Issue(UserId(7), "bob");
  const std::string cases[] = {
      "",
      ".",
      "..",
      "...",
      "a.b.c",
      "a.b.c.d",
      token + ".",
      token + "x",
      "x" + token,
      std::string(5000, 'a'),
      Part(token, 0) + "." + Part(token, 1),
      Part(token, 0) + ".." + Part(token, 2),
      Base64UrlEncode("[1,2]") + "." + Part(token, 1) + "." + Part(token, 2),
      Base64UrlEncode("{\"alg\":\"HS256\"") + "." + Part(token, 1) + "." + Part(token, 2),
      Base64UrlEncode("{\"alg\":5}") + "." + Part(token, 1) + "." + Part(token, 2),
      Base64UrlEncode(std::string(3000, '[')) + "." + Part(token, 1) + "." + Part(token, 2),
      "eyJ=.eyJ=.abc=",
      std::string("\0\0\0", 3),
      "\xff\xfe.\xff.\x80",
  };
  for (const std::string& c : cases) {
    auto r = issuer.Verify(c);
    EXPECT_FALSE(r.ok()) << c;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, Errc::kUnauthorized) << c;
    }
  }
}

TEST(TokenIssuer, RandomMutationsNeverVerify) {
  ManualClock clock;
  TokenIssuer issuer(kSecret, 900, clock);
  const std::string token = issuer.Issue(UserId(7), "bob");
  std::mt19937 rng(12345);
  std::string alphabet = "ABCxyz019-_.=+/{}\"\\ ";
  alphabet.push_back('\0');
  alphabet.push_back('\xff');
  for (int i = 0; i < 3000; ++i) {
    std::string t = token;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits; ++k) {
      const size_t pos = rng() % t.size();
      switch (rng() % 3) {
        case 0:
          t[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          t.erase(pos, 1 + rng() % 4);
          break;
        default:
          t.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
      }
    }
    if (t == token) continue;
    auto r = issuer.Verify(t);
    EXPECT_FALSE(r.ok()) << t;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, Errc::kUnauthorized);
    }
  }
}

// Builds a validly signed token from raw JSON so that the claim checks behind
// the signature can be tested.
std::string Forge(std::string_view header_json, std::string_view payload_json, std::string_view secret) {
  std::string input = Base64UrlEncode(header_json) + "." + Base64UrlEncode(payload_json);
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

TEST(TokenIssuer, ClaimChecksBehindSignature) {
  ManualClock clock(1'700'000'000'000);
  TokenIssuer issuer(kSecret, 900, clock);
  const std::string h = R"({"alg":"HS256","typ":"JWT"})";
  auto verify = [&](std::string_view payload) { return issuer.Verify(Forge(h, payload, kSecret)); };

  EXPECT_TRUE(verify(R"({"sub":"5","name":"eve","iat":1700000000,"exp":1700000100,"typ":"access"})").ok());
  auto r = verify(R"({"sub":"5","name":"eve","iat":1700000000,"exp":1700000100,"typ":"refresh"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnauthorized);
  EXPECT_EQ(r.error().message, "not an access token");
  EXPECT_FALSE(verify(R"({"sub":"5","name":"eve","iat":1700000000,"exp":1700000100})").ok());
  EXPECT_FALSE(verify(R"({"sub":"0","name":"eve","iat":1700000000,"exp":1700000100,"typ":"access"})").ok());
  EXPECT_FALSE(verify(R"({"sub":"-5","name":"eve","iat":1700000000,"exp":1700000100,"typ":"access"})").ok());
  EXPECT_FALSE(verify(R"({"sub":5,"name":"eve","iat":1700000000,"exp":1700000100,"typ":"access"})").ok());
  EXPECT_FALSE(verify(R"({"sub":"5","iat":1700000000,"exp":1700000100,"typ":"access"})").ok());
  EXPECT_FALSE(verify(R"({"sub":"5","name":"eve","iat":1700000000,"exp":"1700000100","typ":"access"})").ok());
  EXPECT_FALSE(verify(R"({"sub":"5","name":"eve","iat":1700000000,"exp":1.7e9,"typ":"access"})").ok());
  EXPECT_FALSE(
      verify(R"({"sub":"5","name":"eve","iat":1700000000,"exp":18446744073709551615,"typ":"access"})").ok());
  EXPECT_FALSE(verify(R"({"sub":"5","name":"eve","iat":1700000000,"typ":"access"})").ok());
  r = verify(R"({"sub":"5","name":"eve","iat":1600000000,"exp":1700000000,"typ":"access"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "token expired");
  EXPECT_FALSE(verify("[]").ok());
  EXPECT_FALSE(verify("not json").ok());
  // A signed header with a "crit" extension we do not understand.
  EXPECT_FALSE(
      issuer
          .Verify(Forge(R"({"alg":"HS256","crit":["x"]})",
                        R"({"sub":"5","name":"eve","iat":1700000000,"exp":1700000100,"typ":"access"})",
                        kSecret))
          .ok());
}

// ---------------------------------------------------------------- refresh tokens

TEST(RefreshToken, UniqueAndSized) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string t = NewRefreshToken();
    EXPECT_EQ(t.size(), 43u);  // 32 bytes, base64url, no padding
    std::string raw;
    ASSERT_TRUE(Base64UrlDecode(t, raw));
    EXPECT_EQ(raw.size(), 32u);
    EXPECT_TRUE(seen.insert(t).second);
  }
}

TEST(HashToken, KnownVector) {
  EXPECT_EQ(HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HashToken(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HashToken("abc").size(), 64u);
}

// ---------------------------------------------------------------- secret file

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("parley_auth_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(SecretFileTest, CreatedOnceAndReused) {
  const std::string path = (dir_ / "nested" / "jwt.secret").string();
  auto first = LoadOrCreateSecret(path);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->size(), 128u);
  EXPECT_EQ(first->find_first_not_of("0123456789abcdef"), std::string::npos);

  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  auto second = LoadOrCreateSecret(path);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *second);
  // No temp files left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "nested")) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST_F(SecretFileTest, ReadsAndTrimsExisting) {
  fs::create_directories(dir_);
  const std::string path = (dir_ / "jwt.secret").string();
  const std::string secret(40, 'k');
  std::ofstream(path) << "  " << secret << "\n\n";
  auto r = LoadOrCreateSecret(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, secret);
}

TEST_F(SecretFileTest, RefusesEmptyOrShort) {
  fs::create_directories(dir_);
  const std::string path = (dir_ / "jwt.secret").string();
  std::ofstream(path) << " \n";
  EXPECT_FALSE(LoadOrCreateSecret(path).ok());
  std::ofstream(path) << "short\n";
  auto r = LoadOrCreateSecret(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(path), std::string::npos);
}

TEST_F(SecretFileTest, UncreatableDirectoryIsUnavailable) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "not-a-dir") << "x";  // a file where a folder should be
  auto r = LoadOrCreateSecret((dir_ / "not-a-dir" / "jwt.secret").string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
}

}  // namespace

}  // namespace parley::auth
