#include <stdio.h>

#include "cli/commands.h"

#ifndef DS4_VERSION
#define DS4_VERSION "0.1.0"
#endif

int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("ds4 %s\n", DS4_VERSION);
    return 0;
}
