/* smallwrite_marline PORT COUNT: connects to the sink, makes COUNT
 * transport_write calls of 13 bytes (stream 0 of the pattern), then
 * transport_lose_connection. Prints the CLOCK_MONOTONIC time of the first
 * write; the sink prints when it saw EOF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marline.h"
#include "pattern.h"

static uint8_t *tbl;
static long count;
static uint64_t start;

static void on_made(transport_t *t, void *user) {
    (void)user;
    start = mono_ns();
    for (long i = 0; i < count; i++) {
        if (transport_write(t, pattern_at(tbl, 0, (uint64_t)i * 13), 13) != MARLINE_OK) {
            fprintf(stderr, "smallwrite_marline: write failed\n");
            exit(1);
        }
    }
    transport_lose_connection(t);
}

static void on_lost(transport_t *t, const marline_reason_t *r, void *user) {
    (void)t;
    (void)r;
    reactor_stop((reactor_t *)user);
}

static void on_failed(transport_t *t, const marline_reason_t *r, void *user) {
    (void)t;
    (void)r;
    (void)user;
    fprintf(stderr, "smallwrite_marline: connect failed\n");
    exit(1);
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    count = atol(argv[2]);
    tbl = pattern_table();
    reactor_t *r = NULL;
    reactor_new(&r);
    marline_protocol_t p;
    MARLINE_INIT(&p);
    p.connection_made = on_made;
    p.connection_lost = on_lost;
    p.connection_failed = on_failed;
    transport_t *t = NULL;
    if (reactor_connect_tcp(r, "127.0.0.1", atoi(argv[1]), 0, &p, r, &t) != MARLINE_OK) return 1;
    reactor_run(r);
    reactor_free(r);
    printf("RESULT start_ns=%llu\n", (unsigned long long)start);
    return 0;
}
