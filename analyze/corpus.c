#include "../formats/cli.h"
int cmd_corpus(int argc, char **argv) { (void)argc; (void)argv; return EXIT_USAGE; }
