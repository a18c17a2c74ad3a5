/* echo_server [PORT]: listens on 127.0.0.1:PORT (0 or absent: a free port),
 * prints "listening on 127.0.0.1:PORT" as its first line, turns TCP_NODELAY
 * on for every connection and echoes every byte until killed.
 *
 * Flow control: each connection's reading is the streaming producer of its
 * writes (transport_register_reading_as_producer), so while the peer does
 * not read its echo (the write queue is past its high-water mark) the
 * server stops reading from it.
 * A peer that only writes then fills the kernel's buffers and blocks,
 * instead of growing the server's memory without bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marline.h"

static void on_made(transport_t *t, void *user) {
    (void)user;
    transport_set_tcp_nodelay(t, true);
    marline_status_t s = transport_register_reading_as_producer(t);
    if (s != MARLINE_OK) {
        fprintf(stderr, "echo_server: register_reading_as_producer: %s\n", marline_strerror(s));
    }
}

static void on_data(transport_t *t, const uint8_t *data, size_t len, void *user) {
    (void)user;
    marline_status_t s = transport_write(t, data, len);
    if (s != MARLINE_OK) {
        fprintf(stderr, "echo_server: write failed: %s\n", marline_strerror(s));
    }
}

static int parse_port(const char *text) {
    char *end = NULL;
    long port = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || port < 0 || port > 65535) {
        return -1;
    }
    return (int)port;
}

int main(int argc, char **argv) {
    int port = 0;
    if (argc > 2 || (argc == 2 && (port = parse_port(argv[1])) < 0)) {
        fprintf(stderr, "usage: echo_server [PORT]   (PORT 0-65535; 0 picks a free port)\n");
        return 2;
    }
    reactor_t *reactor = NULL;
    marline_status_t s = reactor_new(&reactor);
    if (s != MARLINE_OK) {
        fprintf(stderr, "echo_server: reactor_new: %s\n", marline_strerror(s));
        return 1;
    }
    marline_protocol_t echo;
    MARLINE_INIT(&echo);
    echo.connection_made = on_made;
    echo.data_received = on_data;
    listening_port_t *lp = NULL;
    s = reactor_listen_tcp(reactor, "127.0.0.1", port, 0, &echo, NULL, &lp);
    if (s != MARLINE_OK) {
        fprintf(stderr, "echo_server: cannot listen on 127.0.0.1:%d: %s\n", port, marline_strerror(s));
        reactor_free(reactor);
        return 1;
    }
    int bound = 0;
    listening_port_get_port(lp, &bound);
    printf("listening on 127.0.0.1:%d\n", bound);
    fflush(stdout);
    s = reactor_run(reactor);
    reactor_free(reactor);
    return s == MARLINE_OK ? 0 : 1;
}
