/* The "large parent" of the spawn benchmarks: spawn_marline and spawn_uv
 * take an optional third argument BALLAST_MIB and first map and touch that
 * much private memory, so that fork() has page tables to copy, as it would
 * in a large program embedding the library. 4 KiB pages (transparent huge
 * pages off for the range), like a heap built from many small allocations;
 * the memory stays mapped until exit and is touched before the clock starts. */
#ifndef BENCH_BALLAST_H
#define BENCH_BALLAST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static inline void ballast(const char *mib) {
    size_t len = mib ? (size_t)strtoull(mib, NULL, 10) << 20 : 0;
    if (len == 0) return;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("ballast: mmap");
        exit(1);
    }
    madvise(p, len, MADV_NOHUGEPAGE);
    memset(p, 0x5a, len);
}
#endif
