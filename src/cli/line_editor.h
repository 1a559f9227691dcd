#pragma once
// LineEditor: the terminal input of `parley chat`, on libedit.
//
// Arrow keys, Home/End, history (Up/Down), Ctrl-K/Ctrl-Y and the rest of a
// shell's editing come from libedit (through its readline-compatible
// callback interface), so the chat never blocks on the keyboard: the caller
// polls stdin and hands each ready byte to ReadAvailable, and prints
// incoming lines above the prompt with PrintAbove.
//
// Owns libedit's process-wide state and the terminal's mode (restored by the
// destructor and, through libedit, on SIGINT/SIGTERM): at most one LineEditor
// at a time, used on one thread.
#include <deque>
#include <functional>
#include <optional>
#include <string>

namespace parley::cli {

class LineEditor {
 public:
  // `on_line` gets each line the user enters, or nullopt for Ctrl-D on an
  // empty line.
  using OnLine = std::function<void(std::optional<std::string>)>;

  LineEditor(const std::string& prompt, OnLine on_line);
  ~LineEditor();
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // Feeds what stdin holds now (call when poll says it is readable);
  // `on_line` runs for each line finished.
  void ReadAvailable();
  // Changes the prompt and redraws it with the input.
  void SetPrompt(const std::string& prompt);
  // Prints `line` above the prompt, then redraws `prompt` and the input.
  void PrintAbove(const std::string& line, const std::string& prompt);
  // Erases the line just entered, from `on_line`, so what the server
  // echoes replaces it.
  void EraseEnteredLine();
  // Something is typed and not yet entered.
  bool HasInput() const;
  // Takes the prompt and input off the screen (before the chat ends).
  void Clear();

 private:
  static void Dispatch(char* line);

  OnLine on_line_;
  std::deque<std::optional<std::string>> entered_;  // by libedit's callback, for ReadAvailable
  std::string prompt_;
  bool installed_ = false;  // libedit shows the prompt (not while a line is handled)
};

}  // namespace parley::cli
