/* The byte pattern every benchmark stream carries (see bench/src/lib.rs):
 * stream `seed` carries byte i = table[(seed + i) % PATTERN_PERIOD]; the
 * table holds two periods so any run up to one period is contiguous. */
#ifndef BENCH_PATTERN_H
#define BENCH_PATTERN_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PATTERN_PERIOD 65537u

static inline uint8_t *pattern_table(void) {
    uint8_t *t = malloc(2 * PATTERN_PERIOD);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (unsigned i = 0; i < PATTERN_PERIOD; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        t[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56);
    }
    memcpy(t + PATTERN_PERIOD, t, PATTERN_PERIOD);
    return t;
}

static inline const uint8_t *pattern_at(const uint8_t *t, uint64_t seed, uint64_t at) {
    return t + (seed + at) % PATTERN_PERIOD;
}

static inline uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#endif
