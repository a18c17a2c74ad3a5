/*
 * test_lifecycle: the shared connection lifecycle through the C API (docs/ARCHITECTURE.md,
 * "The connection lifecycle"). Run natively, under ASan+UBSan and under valgrind by
 * tests/c_programs.rs.
 * - A producer whose peer resets after transport_lose_connection: stop_producing (which
 *   frees the producer's state), then connection_lost(LOST). (Before: reading stopped at
 *   lose_connection, the reset was never seen and the producer leaked with the hang.)
 * - Writes right after transport_lose_connection are accepted and reach the peer; once
 *   connection_lost has run the handle is stale. Never a silent drop.
 * - A reset that beats the connect's completion: connection_failed with
 *   MARLINE_REASON_CONNECT_FAILED and ECONNRESET (Twisted's ConnectError).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "marline.h"

/* A plain blocking listener on 127.0.0.1; returns its fd and writes its port. */
static int plain_listener(int *port) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0) return -1;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Closes `fd` with a reset (SO_LINGER 0). */
static void reset_close(int fd) {
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

struct conn {
    int made, lost, failed;
    marline_reason_kind_t reason;
    int32_t err;
    char order[8];
    size_t order_len;
    transport_t *t;
};

static void note(struct conn *c, char what) {
    if (c->order_len < sizeof c->order - 1) c->order[c->order_len++] = what;
}

static void c_made(transport_t *t, void *user) {
    struct conn *c = (struct conn *)user;
    c->made++;
    c->t = t;
}

static void c_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    struct conn *c = (struct conn *)user;
    c->lost++;
    c->reason = marline_reason_kind(reason);
    note(c, 'L');
}

static void c_failed(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    struct conn *c = (struct conn *)user;
    c->failed++;
    c->reason = marline_reason_kind(reason);
    c->err = marline_reason_errno(reason);
}

static marline_protocol_t recording(void) {
    marline_protocol_t p;
    MARLINE_INIT(&p);
    p.connection_made = c_made;
    p.connection_lost = c_lost;
    p.connection_failed = c_failed;
    return p;
}

/* A producer with heap state, freed when it is told to stop. */
struct prod {
    struct conn *c;
    int resumed;
};

static void p_resume(transport_t *t, void *user) {
    (void)t;
    ((struct prod *)user)->resumed++;
}

static void p_stop(transport_t *t, void *user) {
    (void)t;
    struct prod *p = (struct prod *)user;
    note(p->c, 'S');
    free(p);
}

static int run_until(reactor_t *r, const int *flag) {
    for (int i = 0; i < 500 && !*flag; i++) reactor_run_once(r, 0.01);
    return *flag;
}

/* A marline client connected to a plain peer; returns the peer's fd. */
static int connect_pair(reactor_t *r, int lfd, int port, struct conn *c) {
    marline_protocol_t p = recording();
    transport_t *t = NULL;
    memset(c, 0, sizeof *c);
    if (reactor_connect_tcp(r, "127.0.0.1", port, 5.0, &p, c, &t) != MARLINE_OK) return -1;
    int peer = accept(lfd, NULL, NULL);
    run_until(r, &c->made);
    return peer;
}

int main(void) {
    reactor_t *r = NULL;
    int port = 0;
    int lfd = plain_listener(&port);
    CHECK(lfd >= 0, "a plain listener");
    CHECK(reactor_new(&r) == MARLINE_OK, "reactor_new");

    /* 1. lose_connection with a producer registered, then the peer resets. */
    {
        struct conn c;
        int peer = connect_pair(r, lfd, port, &c);
        CHECK(peer >= 0 && c.made == 1, "connected");
        marline_producer_t cb;
        MARLINE_INIT(&cb);
        cb.resume_producing = p_resume;
        cb.stop_producing = p_stop;
        struct prod *p = (struct prod *)calloc(1, sizeof *p);
        p->c = &c;
        CHECK(transport_register_producer(c.t, &cb, p, true) == MARLINE_OK, "register a streaming producer");
        CHECK(transport_lose_connection(c.t) == MARLINE_OK, "lose_connection");
        for (int i = 0; i < 5; i++) reactor_run_once(r, 0.01);
        CHECK(c.lost == 0, "the close waits for the producer");
        reset_close(peer);
        CHECK(run_until(r, &c.lost), "the peer's reset ends the wait");
        CHECK(c.reason == MARLINE_REASON_LOST, "connection_lost with LOST");
        CHECK(c.order_len == 2 && memcmp(c.order, "SL", 2) == 0, "stop_producing, then connection_lost");
    }

    /* 2. Writes after lose_connection are delivered; after connection_lost, stale. */
    {
        struct conn c;
        int peer = connect_pair(r, lfd, port, &c);
        CHECK(transport_write(c.t, (const uint8_t *)"one ", 4) == MARLINE_OK, "write");
        CHECK(transport_lose_connection(c.t) == MARLINE_OK, "lose_connection");
        CHECK(transport_write(c.t, (const uint8_t *)"two", 3) == MARLINE_OK, "a write after lose_connection is accepted");
        CHECK(run_until(r, &c.lost) && c.reason == MARLINE_REASON_DONE, "connection_lost with DONE");
        CHECK(transport_write(c.t, (const uint8_t *)"x", 1) == MARLINE_ERR_STALE_HANDLE, "after connection_lost: stale");
        char buf[16];
        size_t got = 0;
        ssize_t n;
        while ((n = read(peer, buf + got, sizeof buf - got)) > 0) got += (size_t)n;
        CHECK(got == 7 && memcmp(buf, "one two", 7) == 0, "the peer got every byte, then EOF");
        close(peer);
    }

    /* 3. A reset before the connect completes is a connect failure. */
    {
        struct conn c;
        marline_protocol_t p = recording();
        transport_t *t = NULL;
        memset(&c, 0, sizeof c);
        CHECK(reactor_connect_tcp(r, "127.0.0.1", port, 5.0, &p, &c, &t) == MARLINE_OK, "connect");
        reset_close(accept(lfd, NULL, NULL)); /* before the loop has run */
        CHECK(run_until(r, &c.failed), "connection_failed");
        CHECK(c.reason == MARLINE_REASON_CONNECT_FAILED, "reason CONNECT_FAILED (not LOST)");
        CHECK(c.err == ECONNRESET, "errno ECONNRESET");
        CHECK(c.made == 0 && c.lost == 0, "no connection_made, no connection_lost");
    }

    close(lfd);
    CHECK(reactor_free(r) == MARLINE_OK, "reactor_free");
    return check_summary();
}
