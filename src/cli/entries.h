#pragma once
// Richer messages (PROTOCOL.md §5) as the CLI shows them: the text entries a
// command holds, kept folded as change entries arrive, and their rendering
// (edited and deleted marks, the quote of a reply's target, reactions,
// mentions).
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/model.h"

namespace parley::cli {

// The text entries of one conversation a command has seen, each in its
// folded state. A change entry is applied to its target only when its seq
// is above the target's state_seq, so an entry the server already folded is
// never counted twice. Owned by one command (history, chat, tail); one
// thread.
class FoldedEntries {
 public:
  // `me` is the reader: a reaction entry of theirs moves `me` of the emoji.
  // `mentions_of` gives the mentioned users of an edited body (an edit entry
  // does not carry them).
  FoldedEntries(UserId me, std::function<std::vector<UserId>(std::string_view body)> mentions_of)
      : me_(me), mentions_of_(std::move(mentions_of)) {}

  // Keeps a text entry as the server served it, unless the one held is
  // newer (a higher state_seq). Returns the one now held.
  const Message& Hold(const Message& text);

  enum class Outcome { kApplied, kAlreadyFolded, kNotHeld };
  // Folds a change entry (edit, delete, reaction) into its target.
  Outcome Apply(const Message& change);

  // The held text entry at `seq`, or nullptr.
  const Message* Find(int64_t seq) const;

 private:
  struct Held {
    Message text;
    // Who is known to hold each emoji, learnt from the reaction entries
    // applied here: the served state only says how many hold it and
    // whether the reader does. A repeated add (or a remove of one not
    // held) is stored but changes nothing, so it must not move the count.
    std::map<std::string, std::map<UserId, bool>> holders;
  };
  void ApplyReaction(Held& held, const Message& change);

  UserId me_;
  std::function<std::vector<UserId>(std::string_view)> mentions_of_;
  std::map<int64_t, Held> held_;
};

// How text entries are written out.
struct EntryStyle {
  bool long_form = true;  // "[2024-05-01 14:03:12] #7 alice: ..." else "[14:03] #7 alice: ..."
  bool ansi = false;      // emphasis on a terminal: mentions bold, yours reversed, deletions dim
  UserId me;
  std::function<std::string(UserId)> username;
  // The target of a reply (nullptr when unknown: the quote then names its seq).
  std::function<const Message*(int64_t seq)> target;
};

// A text entry as lines (no trailing newline): the quote of the entry it
// answers ("  ↪ alice: first words…"), the message with "(edited)" or
// "(message deleted)", and its reactions ("    👍 2  [❤ 1]", yours in
// brackets). Mentions of members are emphasized when `ansi`.
std::string FormatEntry(const Message& text, const EntryStyle& style);

// One line saying what a change entry did: "alice edited #3: new text",
// "alice deleted #3", "bob reacted 👍 to #3", "bob took back 👍 from #3".
std::string DescribeChange(const Message& change, const std::string& sender);

// The reactions of a text entry: "👍 2  [❤ 1]" (yours in brackets), or "".
std::string FormatReactions(const std::vector<Reaction>& reactions);

}  // namespace parley::cli
