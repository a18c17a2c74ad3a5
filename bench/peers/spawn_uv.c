/* spawn_uv COUNT PARALLEL [BALLAST_MIB]: the libuv equivalent of spawn_marline: uv_spawn
 * of `sh -c 'echo hello; exit 42'` with a uv_pipe_t for stdout (stdin
 * ignored, stderr inherited), at most PARALLEL at a time. A child counts as
 * done once both EOF on its pipe and its exit callback have been seen, then
 * both handles are closed and the next child is spawned. Same checks.
 * BALLAST_MIB: see ballast.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "ballast.h"
#include "pattern.h"

#define EXPECT "hello\n"

struct child {
    uv_process_t proc;
    uv_pipe_t out;
    char buf[64];
    char got[16];
    size_t len;
    int eof, exited, closed;
};

static uv_loop_t *loop;
static long count, started, done;
static char *child_argv[] = {"sh", "-c", "echo hello; exit 42", NULL};

static void fail(const char *what) {
    fprintf(stderr, "spawn_uv: %s\n", what);
    exit(1);
}

static void spawn_one(void);

static void on_closed(uv_handle_t *h) {
    struct child *c = (struct child *)h->data;
    if (++c->closed == 2) free(c);
}

static void maybe_done(struct child *c) {
    if (!c->eof || !c->exited) return;
    if (c->len != strlen(EXPECT) || memcmp(c->got, EXPECT, c->len) != 0) {
        fprintf(stderr, "spawn_uv: child wrote %zu bytes, not \"hello\\n\"\n", c->len);
        exit(1);
    }
    uv_close((uv_handle_t *)&c->proc, on_closed);
    uv_close((uv_handle_t *)&c->out, on_closed);
    done++;
    if (started < count) spawn_one();
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal) {
    struct child *c = (struct child *)p->data;
    if (status != 42 || term_signal != 0) {
        fprintf(stderr, "spawn_uv: child exited with %lld (signal %d), not 42\n", (long long)status, term_signal);
        exit(1);
    }
    c->exited = 1;
    maybe_done(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    struct child *c = (struct child *)h->data;
    (void)suggested;
    *buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    struct child *c = (struct child *)s->data;
    if (n == UV_EOF) {
        uv_read_stop(s);
        c->eof = 1;
        maybe_done(c);
        return;
    }
    if (n < 0) fail(uv_strerror((int)n));
    if (c->len + (size_t)n > sizeof c->got) fail("too much output");
    memcpy(c->got + c->len, buf->base, (size_t)n);
    c->len += (size_t)n;
}

static void spawn_one(void) {
    struct child *c = calloc(1, sizeof *c);
    uv_process_options_t opt;
    uv_stdio_container_t stdio[3];
    if (!c) fail("out of memory");
    uv_pipe_init(loop, &c->out, 0);
    c->out.data = c;
    c->proc.data = c;
    memset(&opt, 0, sizeof opt);
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = (uv_stdio_flags)(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[1].data.stream = (uv_stream_t *)&c->out;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    opt.file = "/bin/sh";
    opt.args = child_argv;
    opt.exit_cb = on_exit_cb;
    opt.stdio = stdio;
    opt.stdio_count = 3;
    int rc = uv_spawn(loop, &c->proc, &opt);
    if (rc != 0) fail(uv_strerror(rc));
    rc = uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read);
    if (rc != 0) fail(uv_strerror(rc));
    started++;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) return 2;
    count = atol(argv[1]);
    long parallel = atol(argv[2]);
    if (count <= 0 || parallel <= 0) return 2;
    ballast(argc == 4 ? argv[3] : NULL);
    loop = uv_default_loop();
    uint64_t t0 = mono_ns();
    for (long i = 0; i < parallel && i < count; i++) spawn_one();
    uv_run(loop, UV_RUN_DEFAULT);
    uint64_t t1 = mono_ns();
    if (done != count) fail("loop ended early");
    printf("RESULT value=%.1f unit=spawns/s checked=%ld byte-exact: pass\n", (double)count / ((double)(t1 - t0) / 1e9), done);
    return 0;
}
