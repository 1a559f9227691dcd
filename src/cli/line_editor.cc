#include "cli/line_editor.h"

#include <poll.h>
#include <unistd.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>

#include <editline/readline.h>

namespace parley::cli {

namespace {

// libedit's callback takes no context: where the one LineEditor alive
// collects the lines entered.
std::deque<std::optional<std::string>>* g_entered = nullptr;

// Bytes handed to libedit at most per ReadAvailable, so a long paste does
// not hold up the socket.
constexpr int kMaxBytesPerRound = 4096;

}  // namespace

LineEditor::LineEditor(const std::string& prompt, OnLine on_line)
    : on_line_(std::move(on_line)), prompt_(prompt) {
  // Multibyte (UTF-8) input is edited by character only under the user's
  // locale; the C locale would take each byte as a character.
  std::setlocale(LC_CTYPE, "");
  g_entered = &entered_;
  rl_readline_name = "parley";
  using_history();
  stifle_history(500);
  rl_callback_handler_install(prompt_.c_str(), &LineEditor::Dispatch);
  installed_ = true;
}

LineEditor::~LineEditor() {
  if (installed_) rl_callback_handler_remove();
  g_entered = nullptr;
}

void LineEditor::Dispatch(char* line) {
  std::optional<std::string> entered;
  if (line != nullptr) {
    entered = std::string(line);
    if (!entered->empty()) add_history(line);
    std::free(line);
  }
  if (g_entered != nullptr) g_entered->push_back(std::move(entered));
}

void LineEditor::ReadAvailable() {
  for (int i = 0; i < kMaxBytesPerRound; ++i) {
    rl_callback_read_char();
    if (!entered_.empty()) {
      // libedit (3.1-20221030) leaves the terminal cooked after a line in
      // callback mode, so arrows would echo as ^[[A: the handler is put
      // back after each line, which also draws a fresh prompt below
      // whatever `on_line_` printed meanwhile.
      rl_callback_handler_remove();
      installed_ = false;
      while (!entered_.empty()) {
        std::optional<std::string> line = std::move(entered_.front());
        entered_.pop_front();
        on_line_(std::move(line));
      }
      rl_callback_handler_install(prompt_.c_str(), &LineEditor::Dispatch);
      installed_ = true;
    }
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0 || (p.revents & POLLIN) == 0) break;
  }
}

void LineEditor::SetPrompt(const std::string& prompt) {
  if (prompt == prompt_) return;
  prompt_ = prompt;
  if (!installed_) return;
  std::cout << "\r\x1b[K" << std::flush;
  rl_set_prompt(prompt_.c_str());
  rl_forced_update_display();
}

void LineEditor::PrintAbove(const std::string& line, const std::string& prompt) {
  std::cout << "\r\x1b[K" << line << "\n" << std::flush;
  if (prompt != prompt_) {
    prompt_ = prompt;
    if (installed_) rl_set_prompt(prompt_.c_str());
  }
  if (installed_) rl_forced_update_display();
}

void LineEditor::EraseEnteredLine() {
  // libedit moved below the entered line: back up to it and clear it.
  std::cout << "\x1b[A\r\x1b[K" << std::flush;
  if (installed_) rl_forced_update_display();
}

bool LineEditor::HasInput() const { return rl_end > 0; }

void LineEditor::Clear() { std::cout << "\r\x1b[K" << std::flush; }

}  // namespace parley::cli
