// The rules of naming, typing and serving uploads (PROTOCOL.md §6), one by
// one, without a server.
#include "uploads/serving.h"

#include <gtest/gtest.h>

#include "uploads/sha256.h"

namespace parley::uploads {
namespace {

TEST(StoredName, KeepsSeparatorsAndControlsButNotNul) {
  EXPECT_EQ(*StoredName("report.pdf"), "report.pdf");
  EXPECT_EQ(*StoredName("../../etc/passwd"), "../../etc/passwd");
  EXPECT_EQ(*StoredName("a\\b\r\nc\t.txt"), "a\\b\r\nc\t.txt");
  EXPECT_EQ(*StoredName(std::string("a\0b", 3)),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(*StoredName("café ☕.png"), "café ☕.png");
}

TEST(StoredName, RefusesEmptyLongAndInvalidUtf8) {
  EXPECT_EQ(StoredName("").error().code, Errc::kBadRequest);
  EXPECT_EQ(StoredName(std::string(kMaxNameBytes + 1, 'a')).error().code, Errc::kBadRequest);
  EXPECT_TRUE(StoredName(std::string(kMaxNameBytes, 'a')).ok());
  EXPECT_EQ(StoredName("bad\xff.txt").error().code, Errc::kBadRequest);
}

TEST(StoredContentType, KeepsTheMediaTypeOnly) {
  EXPECT_EQ(StoredContentType("image/PNG"), "image/png");
  EXPECT_EQ(StoredContentType("text/html; charset=utf-8"), "text/html");
  EXPECT_EQ(StoredContentType(""), "application/octet-stream");
  EXPECT_EQ(StoredContentType("png"), "application/octet-stream");
  EXPECT_EQ(StoredContentType("image/png\r\nX-Evil: 1"), "application/octet-stream");
  EXPECT_EQ(StoredContentType("image/"), "application/octet-stream");
}

TEST(ServeAs, OnlyImagesAudioAndVideoKeepTheirType) {
  for (const char* kept : {"image/png", "image/jpeg", "image/gif", "image/webp", "audio/ogg", "video/mp4"}) {
    ServedType t = ServeAs(kept);
    EXPECT_EQ(t.content_type, kept);
    EXPECT_FALSE(t.attachment) << kept;
  }
  for (const char* download : {"text/html", "image/svg+xml", "application/xhtml+xml", "application/pdf",
                               "text/javascript", "application/octet-stream", "image/svg", "video/xml"}) {
    ServedType t = ServeAs(download);
    EXPECT_EQ(t.content_type, "application/octet-stream") << download;
    EXPECT_TRUE(t.attachment) << download;
  }
}

TEST(ContentDisposition, EncodesNamesSafely) {
  EXPECT_EQ(ContentDisposition(true, "report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf");
  EXPECT_EQ(ContentDisposition(false, "a b.png"), "inline; filename=\"a b.png\"; filename*=UTF-8''a%20b.png");
  // Quotes, separators and line breaks can neither end the header nor name a path.
  const std::string evil = ContentDisposition(true, "../x\"y\r\nSet-Cookie: a=b\\.html");
  EXPECT_EQ(evil.find('\r'), std::string::npos);
  EXPECT_EQ(evil.find('\n'), std::string::npos);
  EXPECT_EQ(evil.find('/'), std::string::npos);
  EXPECT_EQ(evil.find('\\'), std::string::npos);
  EXPECT_EQ(evil,
            "attachment; filename=\".._x_y__Set-Cookie: a=b_.html\"; "
            "filename*=UTF-8''.._x%22y__Set-Cookie%3A%20a%3Db_.html");
  // UTF-8 is percent-encoded; the fallback is ASCII.
  EXPECT_EQ(ContentDisposition(true, "café"), "attachment; filename=\"caf__\"; filename*=UTF-8''caf%C3%A9");
}

TEST(ParseRange, Forms) {
  using Kind = RangeRequest::Kind;
  auto r = ParseRange("bytes=0-9", 100);
  EXPECT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.first, 0);
  EXPECT_EQ(r.last, 9);
  r = ParseRange("bytes=90-", 100);
  EXPECT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.first, 90);
  EXPECT_EQ(r.last, 99);
  r = ParseRange("bytes=-10", 100);
  EXPECT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.first, 90);
  EXPECT_EQ(r.last, 99);
  r = ParseRange("bytes=50-1000", 100);  // clamped to the end
  EXPECT_EQ(r.last, 99);
  r = ParseRange("bytes=-1000", 100);
  EXPECT_EQ(r.first, 0);
  EXPECT_EQ(ParseRange("bytes=100-", 100).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=500-600", 100).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=-0", 100).kind, Kind::kUnsatisfiable);
  // Ignored (the whole body): absent, malformed, reversed, several ranges, other units.
  for (const char* whole :
       {"", "bytes=", "bytes=a-b", "bytes=9-0", "bytes=0-1,5-6", "items=0-1", "bytes=--1"}) {
    EXPECT_EQ(ParseRange(whole, 100).kind, Kind::kWhole) << whole;
  }
}

TEST(Sha256, KnownDigests) {
  Sha256 empty;
  EXPECT_EQ(empty.HexDigest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 abc;
  abc.Update("a");
  abc.Update("bc");
  EXPECT_EQ(abc.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(abc.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // again
}

}  // namespace
}  // namespace parley::uploads
