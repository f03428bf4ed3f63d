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
    /* Keep every block reachable and read it back, so that no compiler
     * may drop the allocations as unused. */
    char **blocks = calloc((size_t)mib, sizeof(*blocks));
    if (blocks == NULL)
        return 3;
    for (long i = 0; i < mib; i++) {
        blocks[i] = malloc(1 << 20);
        if (blocks[i] == NULL) {
            fprintf(stderr, "memhog: malloc failed at %ld MiB\n", i);
            return 3;
        }
        memset(blocks[i], (int)(i & 0xff) | 1, 1 << 20); /* every page */
    }
    unsigned long sum = 0;
    for (long i = 0; i < mib; i++)
        for (size_t off = 0; off < (1u << 20); off += 4096)
            sum += (unsigned char)blocks[i][off];
    printf("done %ld\n", mib);
    return sum == 0 ? 4 : 0;
}
