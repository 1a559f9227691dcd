#include "cli/chat_input.h"

namespace parley::cli {

ChatLine ParseChatLine(std::string_view line) {
  using Kind = ChatLine::Kind;
  constexpr std::string_view kBlank = " \t\r\n";
  if (line.find_first_not_of(kBlank) == std::string_view::npos) return {Kind::kNothing, ""};
  if (line.substr(0, 2) == "//") return {Kind::kMessage, std::string(line.substr(1))};
  if (line.front() != '/') return {Kind::kMessage, std::string(line)};

  size_t end = line.find_first_of(kBlank);
  std::string_view word = line.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view() : line.substr(end);
  bool has_arguments = rest.find_first_not_of(kBlank) != std::string_view::npos;
  struct Command {
    std::string_view word;
    Kind kind;
  };
  static constexpr Command kCommands[] = {
      {"/help", Kind::kHelp}, {"/leave", Kind::kLeave}, {"/members", Kind::kMembers}, {"/quit", Kind::kQuit}};
  for (const Command& c : kCommands) {
    if (word != c.word) continue;
    if (has_arguments) return {Kind::kBadCommand, std::string(word) + " takes no arguments"};
    return {c.kind, ""};
  }
  return {Kind::kBadCommand, "unknown command " + std::string(word) +
                                 "; /help lists the commands, and // sends a line that starts with /"};
}

}  // namespace parley::cli
