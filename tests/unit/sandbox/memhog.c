/* memhog.c - allocate and touch N MiB, then exit 0 ("memhog 128").
 *
 * A helper for the sandbox tests: under a memory limit smaller than N the
 * kernel's OOM killer ends it with SIGKILL; under a larger one it prints
 * "done N" and exits 0. Built without sanitizers so that its footprint is
 * only what it allocates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: memhog MIB\n");
        return 2;
    }
    long mib = strtol(argv[1], NULL, 10);
    if (mib <= 0)
        return 2;
    for (long i = 0; i < mib; i++) {
        char *p = malloc(1 << 20);
        if (p == NULL) {
            fprintf(stderr, "memhog: malloc failed at %ld MiB\n", i);
            return 3;
        }
        memset(p, (int)(i & 0xff) | 1, 1 << 20); /* touch every page */
    }
    printf("done %ld\n", mib);
    return 0;
}
