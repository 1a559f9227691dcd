#pragma once
// What one line typed into `parley chat` asks for: a message to send, or
// one of the chat's commands. Pure, so the rules are tested as units.
#include <string>
#include <string_view>

namespace parley::cli {

struct ChatLine {
  enum class Kind {
    kNothing,  // blank: nothing to send
    kMessage,  // `text` is the body
    kHelp,
    kLeave,
    kMembers,
    kQuit,
    kBadCommand,  // `text` says what is wrong, for the user
  };
  Kind kind = Kind::kNothing;
  std::string text;
};

// A line starting with one '/' is a command (/help, /leave, /members,
// /quit; none takes arguments); "//" at the start sends the rest of the
// line with a single '/'. Anything else that is not blank is a message,
// sent as typed.
ChatLine ParseChatLine(std::string_view line);

// What /help prints, one command a line.
inline constexpr const char* kChatHelp =
    "/help     this list\n"
    "/members  who is in this conversation, with their roles\n"
    "/leave    leave this group and end the chat\n"
    "/quit     end the chat (also Ctrl-D); queued messages are sent first\n"
    "//text    send \"/text\" (a line that starts with a slash)\n"
    "Up and Down recall earlier lines; Home, End, Ctrl-A/E/K/Y/W edit as in a shell.";

}  // namespace parley::cli
