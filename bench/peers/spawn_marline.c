/* spawn_marline COUNT PARALLEL [BALLAST_MIB]: runs COUNT x `sh -c 'echo hello; exit 42'`
 * through reactor_spawn_process, at most PARALLEL at a time, stdout piped
 * (child fd 1 from the child, fd 2 inherited, no stdin). A child counts as
 * done at process_ended: EOF on its stdout and its exit status both seen.
 * Checks every child wrote exactly "hello\n" and exited with code 42;
 * prints spawns per second over the whole. BALLAST_MIB: see ballast.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marline.h"
#include "ballast.h"
#include "pattern.h"

#define EXPECT "hello\n"

struct child {
    char out[16];
    size_t len;
};

static reactor_t *reactor;
static long count, started, done;
static marline_process_protocol_t proto;
static const char *const child_argv[] = {"sh", "-c", "echo hello; exit 42", NULL};
static const marline_child_fd_t fd_map[] = {
    {.child_fd = 1, .kind = MARLINE_CHILD_FD_FROM_CHILD, .parent_fd = -1},
    {.child_fd = 2, .kind = MARLINE_CHILD_FD_INHERIT, .parent_fd = 2},
};

static void fail(const char *what) {
    fprintf(stderr, "spawn_marline: %s\n", what);
    exit(1);
}

static void spawn_one(void) {
    struct child *c = calloc(1, sizeof *c);
    transport_t *t = NULL;
    if (!c) fail("out of memory");
    marline_status_t s = reactor_spawn_process(reactor, "/bin/sh", child_argv, NULL, NULL, fd_map, 2, false, &proto, c, &t);
    if (s != MARLINE_OK) {
        fprintf(stderr, "spawn_marline: reactor_spawn_process: %s\n", marline_strerror(s));
        exit(1);
    }
    started++;
}

static void on_data(transport_t *t, int32_t fd, const uint8_t *data, size_t len, void *user) {
    struct child *c = (struct child *)user;
    (void)t;
    if (fd != 1 || c->len + len > sizeof c->out) fail("unexpected output");
    memcpy(c->out + c->len, data, len);
    c->len += len;
}

static void on_ended(transport_t *t, const marline_reason_t *reason, void *user) {
    struct child *c = (struct child *)user;
    int32_t code = -1;
    (void)t;
    if (marline_reason_exit_code(reason, &code) != MARLINE_OK || code != 42) {
        fprintf(stderr, "spawn_marline: child ended with %s (code %d), not exit code 42\n", marline_reason_message(reason), (int)code);
        exit(1);
    }
    if (c->len != strlen(EXPECT) || memcmp(c->out, EXPECT, c->len) != 0) {
        fprintf(stderr, "spawn_marline: child wrote %zu bytes, not \"hello\\n\"\n", c->len);
        exit(1);
    }
    free(c);
    done++;
    if (started < count) spawn_one();
    else if (done == count) reactor_stop(reactor);
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) return 2;
    count = atol(argv[1]);
    long parallel = atol(argv[2]);
    if (count <= 0 || parallel <= 0) return 2;
    ballast(argc == 4 ? argv[3] : NULL);
    MARLINE_INIT(&proto);
    proto.child_data_received = on_data;
    proto.process_ended = on_ended;
    if (reactor_new(&reactor) != MARLINE_OK) return 1;
    uint64_t t0 = mono_ns();
    for (long i = 0; i < parallel && i < count; i++) spawn_one();
    reactor_run(reactor);
    uint64_t t1 = mono_ns();
    if (done != count) fail("reactor stopped early");
    printf("RESULT value=%.1f unit=spawns/s checked=%ld byte-exact: pass\n", (double)count / ((double)(t1 - t0) / 1e9), done);
    reactor_free(reactor);
    return 0;
}
