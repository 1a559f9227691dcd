#include "websocket/frame.h"

#include <gtest/gtest.h>

#include "protocol/frames.h"

namespace parley::ws {
namespace {

// A masked client frame, as a browser would send it.
std::string ClientFrame(uint8_t opcode, std::string_view payload, bool fin = true, bool mask = true) {
  std::string out;
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
  uint8_t m = mask ? 0x80 : 0;
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(m | payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    out.push_back(static_cast<char>(m | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    out.push_back(static_cast<char>(m | 127));
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(uint64_t(payload.size()) >> (56 - 8 * i)));
  }
  const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (mask) out.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    out.push_back(mask ? static_cast<char>(payload[i] ^ key[i & 3]) : payload[i]);
  }
  return out;
}

TEST(WsFrame, ParsesMaskedTextOfEveryLengthForm) {
  for (size_t n : {0u, 5u, 125u, 126u, 65535u, 65536u, 70000u}) {
    std::string payload(n, 'a');
    std::string wire = ClientFrame(kText, payload);
    auto f = ParseClientFrame(wire, 1 << 20);
    ASSERT_EQ(f.status, ParsedFrame::Status::kFrame) << n;
    EXPECT_EQ(f.consumed, wire.size());
    EXPECT_EQ(f.payload, payload);
    EXPECT_TRUE(f.fin);
    EXPECT_EQ(f.opcode, kText);
  }
}

TEST(WsFrame, IncompleteUntilTheLastByte) {
  std::string wire = ClientFrame(kText, "hello world");
  for (size_t cut = 0; cut < wire.size(); ++cut) {
    EXPECT_EQ(ParseClientFrame(std::string_view(wire).substr(0, cut), 100).status,
              ParsedFrame::Status::kIncomplete)
        << cut;
  }
}

TEST(WsFrame, RejectsWhatTheRfcForbids) {
  EXPECT_EQ(ParseClientFrame(ClientFrame(kText, "x", true, false), 100).error_close, kCloseProtocolError)
      << "unmasked client frame";
  EXPECT_EQ(ParseClientFrame(ClientFrame(kPing, std::string(126, 'p')), 1000).error_close,
            kCloseProtocolError)
      << "control frame over 125 bytes";
  EXPECT_EQ(ParseClientFrame(ClientFrame(kPing, "p", false), 100).error_close, kCloseProtocolError)
      << "fragmented control frame";
  EXPECT_EQ(ParseClientFrame(ClientFrame(0x3, "x"), 100).error_close, kCloseProtocolError)
      << "reserved opcode";
  std::string rsv = ClientFrame(kText, "x");
  rsv[0] = static_cast<char>(rsv[0] | 0x40);
  EXPECT_EQ(ParseClientFrame(rsv, 100).error_close, kCloseProtocolError) << "RSV1 without an extension";
}

TEST(WsFrame, TooBigIsKnownFromTheHeaderAlone) {
  std::string wire = ClientFrame(kText, std::string(5000, 'x'));
  auto f = ParseClientFrame(std::string_view(wire).substr(0, 4), 4096);  // before the mask key
  EXPECT_EQ(f.status, ParsedFrame::Status::kError);
  EXPECT_EQ(f.error_close, kCloseTooBig);
  auto whole = ParseClientFrame(std::string_view(wire).substr(0, 8), 4096);
  EXPECT_EQ(whole.consumed, wire.size()) << "the frame's full span, to skip";
}

TEST(WsFrame, HeadersUseTheShortestForm) {
  std::array<uint8_t, 10> h{};
  EXPECT_EQ(EncodeHeader(kText, 125, h), 2u);
  EXPECT_EQ(h[0], 0x81);
  EXPECT_EQ(h[1], 125);
  EXPECT_EQ(EncodeHeader(kText, 126, h), 4u);
  EXPECT_EQ(h[1], 126);
  EXPECT_EQ(EncodeHeader(kBinary, 70000, h), 10u);
  EXPECT_EQ(h[1], 127);
  EXPECT_EQ(h[9], 70000 & 0xFF);
}

TEST(WsFrame, AcceptKeyMatchesTheRfcExample) {
  EXPECT_EQ(AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsFrame, ClosePayloadFitsAControlFrame) {
  std::string p = ClosePayload(4009, std::string(300, 'r'));
  EXPECT_EQ(p.size(), 125u);
  EXPECT_EQ(static_cast<uint8_t>(p[0]), 4009 >> 8);
  EXPECT_EQ(static_cast<uint8_t>(p[1]), 4009 & 0xFF);
  EXPECT_EQ(ClosePayload(1000, "bye"), std::string("\x03\xe8") + "bye");
  EXPECT_EQ(ClosePayload(1000, "").size(), 2u);
}

// A reason over 123 bytes is cut before the character that does not fit,
// never inside it: the peer must be able to read the reason as UTF-8.
TEST(WsFrame, ClosePayloadCutsTheReasonOnACharacterBoundary) {
  // 2-, 3- and 4-byte characters, placed at every offset around the cut.
  for (std::string_view ch : {"\u00e9", "\u20ac", "\U0001F600"}) {
    for (size_t ascii = 115; ascii <= 123; ++ascii) {
      std::string reason(ascii, 'a');
      while (reason.size() < 130) reason.append(ch);
      std::string p = ClosePayload(4003, reason);
      std::string_view cut = std::string_view(p).substr(2);
      SCOPED_TRACE(testing::Message() << ch.size() << "-byte characters after " << ascii << " ASCII bytes");
      EXPECT_LE(p.size(), 125u);
      EXPECT_TRUE(protocol::IsValidUtf8(cut)) << "a character was split";
      EXPECT_EQ(std::string_view(reason).substr(0, cut.size()), cut);
      EXPECT_GT(cut.size(), 123 - ch.size()) << "more than the straddling character was dropped";
    }
  }
  // A reason of exactly 123 bytes that ends in a multi-byte character is kept whole.
  std::string exact = std::string(120, 'a') + "\u20ac";
  EXPECT_EQ(ClosePayload(4003, exact).substr(2), exact);
}

}  // namespace
}  // namespace parley::ws
