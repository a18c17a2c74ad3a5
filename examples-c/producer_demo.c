/* producer_demo [MEGABYTES]: streams MEGABYTES (default 64) of generated data
 * from a client to a deliberately slow server in the same process, using a
 * streaming producer. The transport pauses the producer when its write queue
 * passes the high-water mark and resumes it when the queue drains; the demo
 * prints each pause and resume, checks every byte received, and exits 0 on
 * success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marline.h"

#define CHUNK 65536

struct demo {
    reactor_t *reactor;
    size_t total, sent, received;
    uint32_t expect_seed;
    int paused, pauses, resumes, errors, done;
    transport_t *server_side;
    uint8_t chunk[CHUNK];
};

/* The byte at offset i of the stream (a simple, checkable pattern). */
static uint8_t byte_at(size_t i) { return (uint8_t)((i * 7 + (i >> 16)) & 0xff); }

static void produce(transport_t *t, struct demo *d) {
    while (!d->paused && d->sent < d->total) {
        size_t n = d->total - d->sent < CHUNK ? d->total - d->sent : CHUNK;
        for (size_t i = 0; i < n; i++) d->chunk[i] = byte_at(d->sent + i);
        d->sent += n;
        if (transport_write(t, d->chunk, n) != MARLINE_OK) { d->errors++; return; }
    }
    if (d->sent == d->total) {
        transport_unregister_producer(t);
        transport_lose_connection(t);
    }
}

static void on_pause(transport_t *t, void *user) {
    struct demo *d = (struct demo *)user;
    size_t queued = 0;
    transport_get_write_queue_size(t, &queued);
    d->paused = 1;
    d->pauses++;
    if (d->pauses <= 5) printf("pause  at %6.2f MiB sent (queue %zu bytes)\n", d->sent / 1048576.0, queued);
}

static void on_resume(transport_t *t, void *user) {
    struct demo *d = (struct demo *)user;
    d->paused = 0;
    d->resumes++;
    if (d->resumes <= 5) printf("resume at %6.2f MiB sent\n", d->sent / 1048576.0);
    produce(t, d);
}

static void on_client_made(transport_t *t, void *user) {
    marline_producer_t producer; /* copied by transport_register_producer */
    struct demo *d = (struct demo *)user;
    MARLINE_INIT(&producer);
    producer.pause_producing = on_pause;
    producer.resume_producing = on_resume;
    if (transport_register_producer(t, &producer, d, true) != MARLINE_OK) d->errors++;
    produce(t, d);
}

/* The slow server: reads, then stops reading for 2 ms every 256 KiB. */
static void resume_reading(reactor_t *r, void *user) {
    (void)r;
    struct demo *d = (struct demo *)user;
    if (d->server_side) transport_resume_producing(d->server_side);
}

static void on_server_made(transport_t *t, void *user) {
    struct demo *d = (struct demo *)user;
    d->server_side = t;
}

static void on_server_data(transport_t *t, const uint8_t *data, size_t len, void *user) {
    struct demo *d = (struct demo *)user;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != byte_at(d->received + i)) { d->errors++; break; }
    }
    size_t before = d->received;
    d->received += len;
    if (before / 262144 != d->received / 262144) {
        transport_pause_producing(t);
        reactor_call_later(d->reactor, 0.002, resume_reading, d, NULL);
    }
}

static void on_server_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    struct demo *d = (struct demo *)user;
    d->server_side = NULL;
    if (marline_reason_kind(reason) != MARLINE_REASON_DONE) d->errors++;
    d->done = 1;
    reactor_stop(d->reactor);
}

static void on_client_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    struct demo *d = (struct demo *)user;
    if (marline_reason_kind(reason) != MARLINE_REASON_DONE) d->errors++;
}

int main(int argc, char **argv) {
    long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 64;
    if (argc > 2 || mib < 1 || mib > 4096) {
        fprintf(stderr, "usage: producer_demo [MEGABYTES 1-4096]\n");
        return 2;
    }
    static struct demo d;
    d.total = (size_t)mib * 1048576;
    if (reactor_new(&d.reactor) != MARLINE_OK) return 1;

    marline_protocol_t server;

    MARLINE_INIT(&server);
    server.connection_made = on_server_made;
    server.data_received = on_server_data;
    server.connection_lost = on_server_lost;
    listening_port_t *lp = NULL;
    int port = 0;
    if (reactor_listen_tcp(d.reactor, "127.0.0.1", 0, 0, &server, &d, &lp) != MARLINE_OK ||
        listening_port_get_port(lp, &port) != MARLINE_OK) {
        fprintf(stderr, "producer_demo: cannot listen\n");
        return 1;
    }
    marline_protocol_t client;
    MARLINE_INIT(&client);
    client.connection_made = on_client_made;
    client.connection_lost = on_client_lost;
    transport_t *t = NULL;
    if (reactor_connect_tcp(d.reactor, "127.0.0.1", port, 5.0, &client, &d, &t) != MARLINE_OK) return 1;
    reactor_run(d.reactor);
    reactor_free(d.reactor);

    printf("sent %zu bytes, received %zu bytes, %d pauses, %d resumes, %d errors\n",
           d.sent, d.received, d.pauses, d.resumes, d.errors);
    int ok = d.done && !d.errors && d.received == d.total && d.pauses > 0 && d.resumes > 0;
    printf("%s\n", ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
