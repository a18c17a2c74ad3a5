/* gather_uv PORT MIB: the libuv equivalent of gather_marline: uv_write with
 * 16 bufs of 4 KiB, more each time the write queue is empty, then
 * uv_shutdown and uv_close. */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "pattern.h"

static uint8_t *tbl;
static long calls_left, inflight;
static uint64_t pos, start;
static uv_shutdown_t shut;

static void more(uv_stream_t *s);

static void on_shutdown(uv_shutdown_t *req, int status) {
    (void)status;
    uv_close((uv_handle_t *)req->handle, NULL);
}

static void on_written(uv_write_t *req, int status) {
    uv_stream_t *s = req->handle;
    free(req);
    inflight--;
    if (status) {
        fprintf(stderr, "gather_uv: write failed\n");
        exit(1);
    }
    more(s);
}

static void more(uv_stream_t *s) {
    while (calls_left > 0 && uv_stream_get_write_queue_size(s) == 0) {
        uv_buf_t bufs[16];
        for (int k = 0; k < 16; k++) bufs[k] = uv_buf_init((char *)pattern_at(tbl, 0, pos + (uint64_t)k * 4096), 4096);
        pos += 16 * 4096;
        calls_left--;
        uv_write_t *req = malloc(sizeof *req);
        inflight++;
        uv_write(req, s, bufs, 16, on_written);
    }
    if (calls_left == 0 && inflight == 0) {
        calls_left = -1;
        uv_shutdown(&shut, s, on_shutdown);
    }
}

static void on_connect(uv_connect_t *req, int status) {
    if (status) {
        fprintf(stderr, "gather_uv: connect failed\n");
        exit(1);
    }
    start = mono_ns();
    more(req->handle);
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    calls_left = atol(argv[2]) * 16;
    tbl = pattern_table();
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
