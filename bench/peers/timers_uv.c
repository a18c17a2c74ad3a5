/* timers_uv COUNT: the libuv equivalent of timers_marline (uv_timer_start
 * with 0-9 ms, uv_timer_stop on every odd one, uv_run until done). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "pattern.h"

static long count, fired;

static void on_timer(uv_timer_t *t) {
    uintptr_t i = (uintptr_t)t->data;
    if (i & 1) {
        fprintf(stderr, "timers_uv: cancelled timer %lu fired\n", (unsigned long)i);
        exit(1);
    }
    fired++;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    count = atol(argv[1]);
    uv_timer_t *timers = malloc(sizeof *timers * (size_t)count);
    uv_loop_t *loop = uv_default_loop();
    uint64_t t0 = mono_ns();
    for (long i = 0; i < count; i++) {
        uv_timer_init(loop, &timers[i]);
        timers[i].data = (void *)(uintptr_t)i;
        uv_timer_start(&timers[i], on_timer, (uint64_t)(i % 10), 0);
    }
    for (long i = 1; i < count; i += 2) uv_timer_stop(&timers[i]);
    uv_run(loop, UV_RUN_DEFAULT);
    uint64_t t1 = mono_ns();
    if (fired != count / 2) return 1;
    printf("RESULT value=%.4f unit=Mcalls/s checked=%ld byte-exact: pass\n", (double)count / ((double)(t1 - t0) / 1e9) / 1e6, fired);
    return 0;
}
