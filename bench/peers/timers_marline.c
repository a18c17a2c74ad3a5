/* timers_marline COUNT: schedules COUNT reactor_call_later calls (delays 0-9
 * ms), cancels every odd one, runs until the even ones have fired. Checks
 * that exactly those fired; prints calls per second over the whole. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "marline.h"
#include "pattern.h"

static long count, fired;

static void on_timer(reactor_t *r, void *user) {
    uintptr_t i = (uintptr_t)user;
    if (i & 1) {
        fprintf(stderr, "timers_marline: cancelled call %lu fired\n", (unsigned long)i);
        exit(1);
    }
    if (++fired == count / 2) reactor_stop(r);
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    count = atol(argv[1]);
    delayed_call_t **calls = malloc(sizeof *calls * (size_t)count);
    reactor_t *r = NULL;
    reactor_new(&r);
    uint64_t t0 = mono_ns();
    for (long i = 0; i < count; i++) {
        if (reactor_call_later(r, (double)(i % 10) / 1000.0, on_timer, (void *)(uintptr_t)i, &calls[i]) != MARLINE_OK) return 1;
    }
    for (long i = 1; i < count; i += 2) {
        if (delayed_call_cancel(calls[i]) != MARLINE_OK) return 1;
    }
    reactor_run(r);
    uint64_t t1 = mono_ns();
    if (fired != count / 2) return 1;
    printf("RESULT value=%.4f unit=Mcalls/s checked=%ld byte-exact: pass\n", (double)count / ((double)(t1 - t0) / 1e9) / 1e6, fired);
    reactor_free(r);
    return 0;
}
