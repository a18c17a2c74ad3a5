/* echo_client [-h HOST] PORT [WORDS...]
 * Connects to HOST (default 127.0.0.1) on PORT, sends WORDS joined by
 * spaces plus a newline (or, with no words, all of standard input),
 * half-closes, prints what comes back, and exits 0 only if every byte came
 * back exactly. Exit 1: the echo differed or the connection failed; 2: usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marline.h"

struct buffer {
    uint8_t *data;
    size_t len, cap;
};

static int buffer_append(struct buffer *b, const uint8_t *data, size_t len) {
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) cap *= 2;
        uint8_t *grown = (uint8_t *)realloc(b->data, cap);
        if (!grown) return -1;
        b->data = grown;
        b->cap = cap;
    }
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

struct client {
    reactor_t *reactor;
    struct buffer sent, received;
    int failed;
};

static void on_made(transport_t *t, void *user) {
    struct client *c = (struct client *)user;
    if (transport_write(t, c->sent.data, c->sent.len) != MARLINE_OK ||
        transport_lose_write_connection(t) != MARLINE_OK) {
        c->failed = 1;
        transport_abort_connection(t);
    }
}

static void on_data(transport_t *t, const uint8_t *data, size_t len, void *user) {
    struct client *c = (struct client *)user;
    if (buffer_append(&c->received, data, len) != 0) {
        c->failed = 1;
        transport_abort_connection(t);
    }
}

/* The server closed its side: everything it will echo has arrived. */
static void on_read_lost(transport_t *t, void *user) {
    (void)user;
    transport_lose_connection(t);
}

static void on_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    struct client *c = (struct client *)user;
    if (marline_reason_kind(reason) != MARLINE_REASON_DONE) {
        fprintf(stderr, "echo_client: connection lost: %s\n", marline_reason_message(reason));
        c->failed = 1;
    }
    reactor_stop(c->reactor);
}

static void on_failed(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    struct client *c = (struct client *)user;
    fprintf(stderr, "echo_client: cannot connect: %s\n", marline_reason_message(reason));
    c->failed = 1;
    reactor_stop(c->reactor);
}

static int usage(void) {
    fprintf(stderr, "usage: echo_client [-h HOST] PORT [WORDS...]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "-h") == 0) {
        host = argv[i + 1];
        i += 2;
    }
    if (i >= argc) return usage();
    char *end = NULL;
    long port = strtol(argv[i], &end, 10);
    if (*argv[i] == '\0' || *end != '\0' || port < 1 || port > 65535) return usage();
    i++;

    struct client c;

    memset(&c, 0, sizeof c);
    if (i < argc) {
        for (int w = i; w < argc; w++) {
            if (w > i) buffer_append(&c.sent, (const uint8_t *)" ", 1);
            buffer_append(&c.sent, (const uint8_t *)argv[w], strlen(argv[w]));
        }
        buffer_append(&c.sent, (const uint8_t *)"\n", 1);
    } else {
        uint8_t chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
            if (buffer_append(&c.sent, chunk, n) != 0) {
                fprintf(stderr, "echo_client: out of memory\n");
                return 1;
            }
        }
    }

    marline_status_t s = reactor_new(&c.reactor);
    if (s != MARLINE_OK) {
        fprintf(stderr, "echo_client: reactor_new: %s\n", marline_strerror(s));
        return 1;
    }
    marline_protocol_t proto;
    MARLINE_INIT(&proto);
    proto.connection_made = on_made;
    proto.data_received = on_data;
    proto.read_connection_lost = on_read_lost;
    proto.connection_lost = on_lost;
    proto.connection_failed = on_failed;
    transport_t *t = NULL;
    s = reactor_connect_tcp(c.reactor, host, (int)port, 10.0, &proto, &c, &t);
    if (s != MARLINE_OK) {
        fprintf(stderr, "echo_client: cannot connect to %s:%ld: %s\n", host, port, marline_strerror(s));
        c.failed = 1;
    } else {
        reactor_run(c.reactor);
    }
    reactor_free(c.reactor);

    if (c.received.len) fwrite(c.received.data, 1, c.received.len, stdout);
    int same = c.received.len == c.sent.len &&
               (c.sent.len == 0 || memcmp(c.received.data, c.sent.data, c.sent.len) == 0);
    if (!c.failed && !same) {
        fprintf(stderr, "echo_client: sent %zu bytes, %zu came back%s\n", c.sent.len, c.received.len,
                c.received.len == c.sent.len ? " but they differ" : "");
    }
    free(c.sent.data);
    free(c.received.data);
    return (!c.failed && same) ? 0 : 1;
}
