/* smallwrite_uv PORT COUNT: the libuv equivalent of smallwrite_marline:
 * COUNT uv_write calls of 13 bytes, then uv_shutdown and uv_close. */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "pattern.h"

static uint8_t *tbl;
static long count;
static uint64_t start;
static uv_write_t *reqs;
static uv_buf_t *bufs;
static uv_shutdown_t shut;

static void on_written(uv_write_t *req, int status) {
    (void)req;
    if (status) {
        fprintf(stderr, "smallwrite_uv: write failed\n");
        exit(1);
    }
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    (void)status;
    uv_close((uv_handle_t *)req->handle, NULL);
}

static void on_connect(uv_connect_t *req, int status) {
    if (status) {
        fprintf(stderr, "smallwrite_uv: connect failed\n");
        exit(1);
    }
    uv_stream_t *s = req->handle;
    start = mono_ns();
    for (long i = 0; i < count; i++) {
        bufs[i] = uv_buf_init((char *)pattern_at(tbl, 0, (uint64_t)i * 13), 13);
        uv_write(&reqs[i], s, &bufs[i], 1, on_written);
    }
    uv_shutdown(&shut, s, on_shutdown);
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    count = atol(argv[2]);
    tbl = pattern_table();
    reqs = malloc(sizeof *reqs * (size_t)count);
    bufs = malloc(sizeof *bufs * (size_t)count);
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t sock;
    uv_tcp_init(loop, &sock);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", atoi(argv[1]), &addr);
    uv_connect_t c;
    uv_tcp_connect(&c, &sock, (const struct sockaddr *)&addr, on_connect);
    uv_run(loop, UV_RUN_DEFAULT);
    printf("RESULT start_ns=%llu\n", (unsigned long long)start);
    return 0;
}
