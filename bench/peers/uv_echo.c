/* uv_echo [PORT]: the libuv peer. TCP_NODELAY, libuv's usual alloc_cb with
 * a 64 KiB buffer per read, uv_write of what was read (freed in the write
 * callback); flow control as in marline's echo_server: reading stops while
 * more than 64 KiB wait in the write queue and starts again once it is
 * empty. Prints "listening on 127.0.0.1:PORT" and echoes until killed. */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
} write_req_t;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    (void)suggested;
    buf->base = malloc(65536);
    buf->len = 65536;
}

#define HIGH_WATER 65536

static void on_close(uv_handle_t *h) { free(h); }
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status) {
    write_req_t *w = (write_req_t *)req;
    uv_stream_t *s = req->handle;
    free(w->buf.base);
    free(w);
    if (status == 0 && s->data && s->write_queue_size == 0) {
        s->data = NULL; /* drained: read again */
        uv_read_start(s, on_alloc, on_read);
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    if (n > 0) {
        write_req_t *w = malloc(sizeof *w);
        w->buf = uv_buf_init(buf->base, (unsigned)n);
        uv_write(&w->req, s, &w->buf, 1, on_written);
        if (s->write_queue_size > HIGH_WATER) {
            s->data = s; /* paused by flow control */
            uv_read_stop(s);
        }
        return;
    }
    free(buf->base);
    if (n < 0) uv_close((uv_handle_t *)s, on_close);
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0) return;
    uv_tcp_t *client = malloc(sizeof *client);
    uv_tcp_init(server->loop, client);
    client->data = NULL;
    if (uv_accept(server, (uv_stream_t *)client) == 0) {
        uv_tcp_nodelay(client, 1);
        uv_read_start((uv_stream_t *)client, on_alloc, on_read);
    } else {
        uv_close((uv_handle_t *)client, on_close);
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in addr;
    uv_tcp_init(loop, &server);
    uv_ip4_addr("127.0.0.1", port, &addr);
    if (uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0) || uv_listen((uv_stream_t *)&server, 4096, on_connection)) {
        fprintf(stderr, "uv_echo: cannot listen\n");
        return 1;
    }
    struct sockaddr_in bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    printf("listening on 127.0.0.1:%d\n", ntohs(bound.sin_port));
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
