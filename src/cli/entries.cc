#include "cli/entries.h"

#include <algorithm>
#include <set>

#include "cli/format.h"
#include "protocol/utf8.h"

namespace parley::cli {

namespace {

constexpr const char* kReplyArrow = "\xE2\x86\xAA";  // ↪
constexpr const char* kEllipsis = "\xE2\x80\xA6";    // …
// How much of a reply's target its quote shows.
constexpr size_t kQuoteBytes = 48;

constexpr const char* kBold = "\x1b[1m";
constexpr const char* kReverse = "\x1b[1;7m";
constexpr const char* kDim = "\x1b[2m";
constexpr const char* kReset = "\x1b[0m";

bool IsUsernameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// `body` with each `@name` of a mentioned user emphasized (`mine`: the
// reader's own name), by §5's rule for where a name ends.
std::string Emphasize(std::string_view body, const std::set<std::string>& mentioned,
                      const std::string& mine) {
  std::string out;
  size_t i = 0;
  while (i < body.size()) {
    size_t at = body.find('@', i);
    if (at == std::string_view::npos) break;
    size_t end = at + 1;
    while (end < body.size() && IsUsernameChar(body[end])) ++end;
    while (end > at + 1 && (body[end - 1] == '.' || body[end - 1] == '-')) --end;
    std::string name = Lower(body.substr(at + 1, end - at - 1));
    out.append(body.substr(i, at - i));
    if (end > at + 1 && mentioned.contains(name)) {
      out += name == mine ? kReverse : kBold;
      out.append(body.substr(at, end - at));
      out += kReset;
    } else {
      out.append(body.substr(at, end - at));
    }
    i = end;
  }
  out.append(body.substr(i));
  return out;
}

// A name shown on one line: its control characters (a line break, an
// escape sequence) become '?', so a file name cannot forge output.
std::string SafeLine(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

// Continuation lines of a body are indented under the first.
std::string Indented(std::string_view body) {
  std::string out;
  out.reserve(body.size());
  for (char c : body) {
    out += c;
    if (c == '\n') out += "    ";
  }
  return out;
}

std::string Quote(int64_t seq, const EntryStyle& style) {
  const Message* target = style.target ? style.target(seq) : nullptr;
  std::string line = std::string("  ") + kReplyArrow + " ";
  line += "#" + std::to_string(seq);
  if (target == nullptr) return line;
  line += " " + style.username(target->sender) + ": ";
  if (target->deleted) return line + "(message deleted)";
  // The first words of the first line, "…" when anything is left out.
  std::string_view first = target->body;
  first = first.substr(0, first.find('\n'));
  std::string_view kept = protocol::Utf8Prefix(first, kQuoteBytes);
  if (kept.size() < first.size()) {  // cut between words when a word boundary is near
    size_t space = kept.rfind(' ');
    if (space != std::string_view::npos && space > kQuoteBytes / 2) kept = kept.substr(0, space);
  }
  return line + std::string(kept) + (kept.size() < target->body.size() ? kEllipsis : "");
}

}  // namespace

const Message& FoldedEntries::Hold(const Message& text) {
  auto [it, inserted] = held_.try_emplace(text.seq, Held{text, {}});
  if (!inserted && text.state_seq > it->second.text.state_seq) it->second = Held{text, {}};
  return it->second.text;
}

FoldedEntries::Outcome FoldedEntries::Apply(const Message& change) {
  auto it = held_.find(change.target);
  if (it == held_.end()) return Outcome::kNotHeld;
  Held& held = it->second;
  Message& m = held.text;
  if (change.seq <= m.state_seq) return Outcome::kAlreadyFolded;
  switch (change.kind) {
    case EntryKind::kDelete:
      m.deleted = true;
      m.body.clear();
      m.reactions.clear();
      m.mentions.clear();
      m.attachments.clear();
      held.holders.clear();
      break;
    case EntryKind::kEdit:
      if (!m.deleted) {
        m.body = change.body;
        m.edited_ts = change.ts;
        m.mentions = mentions_of_ ? mentions_of_(change.body) : std::vector<UserId>{};
      }
      break;
    case EntryKind::kReaction:
      if (!m.deleted) ApplyReaction(held, change);
      break;
    case EntryKind::kText:
      return Outcome::kNotHeld;  // not a change
  }
  m.state_seq = change.seq;
  return Outcome::kApplied;
}

void FoldedEntries::ApplyReaction(Held& held, const Message& change) {
  std::vector<Reaction>& reactions = held.text.reactions;
  auto r = std::find_if(reactions.begin(), reactions.end(),
                        [&](const Reaction& x) { return x.emoji == change.emoji; });
  std::map<UserId, bool>& who = held.holders[change.emoji];
  const bool mine = change.sender == me_;
  bool had = false;
  if (mine) {
    had = r != reactions.end() && r->me;
  } else if (auto known = who.find(change.sender); known != who.end()) {
    had = known->second;
  } else {
    // Someone whose state was never seen: a remove means they held it when
    // the count has holders not accounted for; an add means they did not.
    int64_t accounted = (r != reactions.end() && r->me) ? 1 : 0;
    for (const auto& [user, holds] : who) accounted += holds ? 1 : 0;
    had = change.op == ReactionOp::kRemove && r != reactions.end() && r->count > accounted;
  }
  if (change.op == ReactionOp::kAdd && !had) {
    if (r == reactions.end()) r = reactions.insert(reactions.end(), Reaction{change.emoji, 0, false});
    ++r->count;
    if (mine) r->me = true;
  } else if (change.op == ReactionOp::kRemove && had && r != reactions.end()) {
    --r->count;
    if (mine) r->me = false;
    if (r->count <= 0) reactions.erase(r);
  }
  if (!mine) who[change.sender] = change.op == ReactionOp::kAdd;
}

const Message* FoldedEntries::Find(int64_t seq) const {
  auto it = held_.find(seq);
  return it == held_.end() ? nullptr : &it->second.text;
}

std::string FormatReactions(const std::vector<Reaction>& reactions) {
  std::string out;
  for (const Reaction& r : reactions) {
    if (!out.empty()) out += "  ";
    std::string item = r.emoji + " " + std::to_string(r.count);
    out += r.me ? "[" + item + "]" : item;
  }
  return out;
}

std::string FormatEntry(const Message& text, const EntryStyle& style) {
  std::string out;
  if (text.reply_to && !text.deleted) out += Quote(*text.reply_to, style) + "\n";
  std::string sender = style.username(text.sender);
  if (style.long_form) {
    out += "[" + FormatTime(text.ts) + "] #" + std::to_string(text.seq) + " " + sender + ": ";
  } else {
    out += "[" + FormatTime(text.ts, "%H:%M") + "] #" + std::to_string(text.seq) + " " + sender + ": ";
  }
  if (text.deleted) {
    out += style.ansi ? std::string(kDim) + "(message deleted)" + kReset : "(message deleted)";
    return out;
  }
  std::string body = text.body;
  if (style.ansi && !text.mentions.empty()) {
    std::set<std::string> mentioned;
    for (UserId user : text.mentions) mentioned.insert(Lower(style.username(user)));
    body = Emphasize(body, mentioned, Lower(style.username(style.me)));
  }
  out += Indented(body);
  if (text.edited_ts) out += style.ansi ? std::string(" ") + kDim + "(edited)" + kReset : " (edited)";
  // Files (PROTOCOL.md §6), one line each; `parley download` saves them.
  for (const Attachment& a : text.attachments) {
    out += "\n    [file: " + SafeLine(a.name) + ", " + std::to_string(a.size) + " bytes]";
  }
  if (std::string reactions = FormatReactions(text.reactions); !reactions.empty()) {
    out += "\n    " + reactions;
  }
  return out;
}

std::string DescribeChange(const Message& change, const std::string& sender) {
  std::string target = "#" + std::to_string(change.target);
  switch (change.kind) {
    case EntryKind::kEdit:
      return sender + " edited " + target + ": " + Indented(change.body);
    case EntryKind::kDelete:
      return sender + " deleted " + target;
    case EntryKind::kReaction:
      return change.op == ReactionOp::kAdd ? sender + " reacted " + change.emoji + " to " + target
                                           : sender + " took back " + change.emoji + " from " + target;
    case EntryKind::kText:
      break;
  }
  return sender + ": " + Indented(change.body);
}

}  // namespace parley::cli
