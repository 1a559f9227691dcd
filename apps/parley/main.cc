// parley: the command-line client. Everything is in the parley_cli library.
#include "cli/commands.h"

int main(int argc, char** argv) { return parley::cli::RunCli(argc, argv); }
