/* gather_marline PORT MIB: connects to the sink and sends MIB MiB as
 * transport_write_sequence calls of 16 x 4 KiB, driven by a pull producer
 * (more calls each time the write queue empties), then
 * transport_lose_connection. Prints the time of the first write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marline.h"
#include "pattern.h"

static uint8_t *tbl;
static long calls_left;
static uint64_t pos, start;

static void more(transport_t *t, void *user) {
    (void)user;
    size_t queued = 0;
    while (calls_left > 0 && queued == 0) {
        marline_iovec_t iov[16];
        for (int k = 0; k < 16; k++) {
            iov[k].base = pattern_at(tbl, 0, pos + (uint64_t)k * 4096);
            iov[k].len = 4096;
        }
        pos += 16 * 4096;
        calls_left--;
        if (transport_write_sequence(t, iov, 16) != MARLINE_OK) {
            fprintf(stderr, "gather_marline: write failed\n");
            exit(1);
        }
        transport_get_write_queue_size(t, &queued);
    }
    if (calls_left == 0) {
        transport_unregister_producer(t);
        transport_lose_connection(t);
    }
}

static void on_made(transport_t *t, void *user) {
    (void)user;
    marline_producer_t prod;
    MARLINE_INIT(&prod);
    prod.resume_producing = more;
    start = mono_ns();
    transport_register_producer(t, &prod, NULL, false);
}

static void on_lost(transport_t *t, const marline_reason_t *r, void *user) {
    (void)t;
    (void)r;
    reactor_stop((reactor_t *)user);
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    calls_left = atol(argv[2]) * 16; /* 64 KiB per call */
    tbl = pattern_table();
    reactor_t *r = NULL;
    reactor_new(&r);
    marline_protocol_t p;
    MARLINE_INIT(&p);
    p.connection_made = on_made;
    p.connection_lost = on_lost;
    transport_t *t = NULL;
    if (reactor_connect_tcp(r, "127.0.0.1", atoi(argv[1]), 0, &p, r, &t) != MARLINE_OK) return 1;
    reactor_run(r);
    reactor_free(r);
    printf("RESULT start_ns=%llu\n", (unsigned long long)start);
    return 0;
}
