// parleyd: the Parley chat server. Everything is in the server library.
#include "server/server.h"

extern char** environ;

int main(int argc, char** argv) { return parley::server::RunParleyd(argc, argv, environ); }
