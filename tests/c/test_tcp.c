/*
 * test_tcp: the reactor, TCP and misuse paths of the C API.
 * One line per check; exit status 0 only if all pass. Run natively, under
 * ASan+UBSan and under valgrind by tests/c_programs.rs.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "marline.h"

/* Runs the loop until *flag becomes non-zero or about 5 s pass. */
static int run_until(reactor_t *r, const int *flag) {
    for (int i = 0; i < 500 && !*flag; i++) {
        if (reactor_run_once(r, 0.01) != MARLINE_OK) return 0;
    }
    return *flag;
}

/* ----- a recording connection ----- */

struct conn {
    int made, lost, failed, read_lost, write_lost;
    marline_reason_kind_t reason;
    char data[256];
    size_t len;
    int close_on_data, abort_twice_on_data, stop_on_lost;
    reactor_t *reactor;
    transport_t *t;
};

static void c_made(transport_t *t, void *user) {
    struct conn *c = (struct conn *)user;
    c->made++;
    c->t = t;
}

static void c_data(transport_t *t, const uint8_t *data, size_t len, void *user) {
    struct conn *c = (struct conn *)user;
    if (c->len + len <= sizeof c->data) {
        memcpy(c->data + c->len, data, len);
        c->len += len;
    }
    if (c->close_on_data) transport_lose_connection(t);
    if (c->abort_twice_on_data) {
        transport_abort_connection(t);
        transport_abort_connection(t);
        transport_lose_connection(t);
        /* Never from inside the call that caused it: */
        c->abort_twice_on_data = c->lost == 0 ? 2 : -1;
    }
}

static void c_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    struct conn *c = (struct conn *)user;
    c->lost++;
    c->reason = marline_reason_kind(reason);
    if (c->stop_on_lost) reactor_stop(c->reactor);
}

static void c_failed(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    struct conn *c = (struct conn *)user;
    c->failed++;
    c->reason = marline_reason_kind(reason);
}

static marline_protocol_t recording(void) {
    marline_protocol_t p;
    MARLINE_INIT(&p);
    p.connection_made = c_made;
    p.data_received = c_data;
    p.connection_lost = c_lost;
    p.connection_failed = c_failed;
    return p;
}

/* An echo server whose per-connection state is malloc'd in connection_made
 * and freed in connection_lost (ASan/valgrind prove no leak, no reuse). */
struct echo_state { int bytes; };
static int echo_lost_count = 0;

static void e_made(transport_t *t, void *user) {
    (void)user;
    struct echo_state *s = (struct echo_state *)calloc(1, sizeof *s);
    transport_set_user(t, s);
}

static void e_data(transport_t *t, const uint8_t *data, size_t len, void *user) {
    struct echo_state *s = (struct echo_state *)user;
    s->bytes += (int)len;
    transport_write(t, data, len);
}

static void e_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    (void)reason;
    free(user);
    echo_lost_count++;
}

static int listen_echo(reactor_t *r, const char *iface, listening_port_t **lp) {
    marline_protocol_t p;
    MARLINE_INIT(&p);
    p.connection_made = e_made;
    p.data_received = e_data;
    p.connection_lost = e_lost;
    int port = -1;
    if (reactor_listen_tcp(r, iface, 0, 16, &p, NULL, lp) != MARLINE_OK) return -1;
    if (listening_port_get_port(*lp, &port) != MARLINE_OK) return -1;
    return port;
}

/* ----- threads ----- */

struct thread_arg {
    reactor_t *r;
    transport_t *t;
    marline_status_t run_status, write_status, stop_status, call_status;
};

static int thread_calls = 0;
static void on_thread_call(reactor_t *r, void *user) {
    (void)r;
    *(int *)user += 1;
    thread_calls++;
}

static void *other_thread(void *p) {
    struct thread_arg *a = (struct thread_arg *)p;
    a->run_status = reactor_run_once(a->r, 0);
    a->write_status = transport_write(a->t, (const uint8_t *)"x", 1);
    a->call_status = reactor_call_from_thread(a->r, on_thread_call, &thread_calls);
    return NULL;
}

static void *stopper_thread(void *p) {
    struct thread_arg *a = (struct thread_arg *)p;
    a->stop_status = reactor_stop(a->r);
    return NULL;
}

/* ----- delayed calls ----- */

static char order[16];
static int order_len = 0;
static void mark_a(reactor_t *r, void *u) { (void)r; (void)u; order[order_len++] = 'a'; }
static void mark_b(reactor_t *r, void *u) { (void)r; (void)u; order[order_len++] = 'b'; }
static void mark_c(reactor_t *r, void *u) { (void)r; (void)u; order[order_len++] = 'c'; }
static void never(reactor_t *r, void *u) { (void)r; *(int *)u = 99; }
static void stop_it(reactor_t *r, void *u) { (void)u; reactor_stop(r); }
static marline_status_t nested_run, nested_free;
static void try_reenter(reactor_t *r, void *u) {
    nested_run = reactor_run(r);
    nested_free = reactor_free(r);
    *(int *)u = 1;
}

int main(void) {
    reactor_t *r = NULL;

    /* Bad handles and pointers. */
    CHECK(reactor_new(NULL) == MARLINE_ERR_NULL_POINTER, "reactor_new(NULL) is NULL_POINTER");
    CHECK(reactor_run(NULL) == MARLINE_ERR_NULL_POINTER, "reactor_run(NULL) is NULL_POINTER");
    CHECK(transport_write(NULL, (const uint8_t *)"x", 1) == MARLINE_ERR_NULL_POINTER, "write on NULL transport");
    CHECK(reactor_run((reactor_t *)(uintptr_t)0x12345) == MARLINE_ERR_WRONG_HANDLE_TYPE, "a garbage handle is detected");
    CHECK(marline_debug_panic() == MARLINE_ERR_PANIC, "a panic inside marline becomes MARLINE_ERR_PANIC");
    CHECK(strcmp(marline_strerror(9999), "unknown status") == 0, "strerror of an unknown number");
    CHECK(strcmp(marline_strerror(MARLINE_ERR_STALE_HANDLE), "the handle is closed or was never valid") == 0, "strerror text");
    CHECK(strcmp(marline_version(), MARLINE_VERSION_STRING) == 0, "version matches the header");

    CHECK(reactor_new(&r) == MARLINE_OK && r != NULL, "reactor_new");

    /* Listening: bad input. */
    listening_port_t *lp = NULL, *lp2 = NULL;
    marline_protocol_t rec = recording();
    CHECK(reactor_listen_tcp(r, "999.1.1.1", 0, 0, &rec, NULL, &lp2) == MARLINE_ERR_BAD_ADDRESS, "bad interface string");
    CHECK(reactor_listen_tcp(r, "127.0.0.1", -1, 0, &rec, NULL, &lp2) == MARLINE_ERR_INVALID_ARGUMENT, "port -1");
    CHECK(reactor_listen_tcp(r, "127.0.0.1", 70000, 0, &rec, NULL, &lp2) == MARLINE_ERR_INVALID_ARGUMENT, "port 70000");
    CHECK(reactor_listen_tcp(r, NULL, 0, 0, &rec, NULL, &lp2) == MARLINE_ERR_NULL_POINTER, "NULL interface");
    CHECK(reactor_listen_tcp(r, "127.0.0.1", 0, 0, NULL, NULL, &lp2) == MARLINE_ERR_NULL_POINTER, "NULL protocol");
    marline_protocol_t unsized = rec;
    unsized.size = 0;
    CHECK(reactor_listen_tcp(r, "127.0.0.1", 0, 0, &unsized, NULL, &lp2) == MARLINE_ERR_INVALID_ARGUMENT, "a table whose size is not set");
    CHECK(lp2 == NULL, "out parameter untouched on failure");

    int port = listen_echo(r, "127.0.0.1", &lp);
    CHECK(port > 0, "listen on 127.0.0.1 port 0 gives a real port");
    CHECK(reactor_listen_tcp(r, "127.0.0.1", port, 0, &rec, NULL, &lp2) == MARLINE_ERR_ADDRESS_IN_USE, "port in use is ADDRESS_IN_USE");

    marline_address_t *addr = NULL;
    char expect[64];
    snprintf(expect, sizeof expect, "127.0.0.1:%d", port);
    CHECK(listening_port_get_host(lp, &addr) == MARLINE_OK && strcmp(marline_address_string(addr), expect) == 0,
          "listening port host prints as 127.0.0.1:PORT");
    CHECK(marline_address_family(addr) == MARLINE_FAMILY_IPV4 && marline_address_port(addr) == port, "family and port");
    uint8_t bytes[16];
    size_t blen = 0;
    CHECK(marline_address_bytes(addr, bytes, sizeof bytes, &blen) == MARLINE_OK && blen == 4 && bytes[0] == 127 && bytes[3] == 1,
          "address bytes");
    CHECK(marline_address_bytes(addr, bytes, 2, &blen) == MARLINE_ERR_BUFFER_TOO_SMALL, "small buffer refused");
    marline_address_free(addr);
    marline_address_free(NULL);

    /* Connect, echo, exact bytes, then a clean close from data_received. */
    struct conn c1;
    memset(&c1, 0, sizeof c1);
    transport_t *t1 = NULL;
    CHECK(reactor_connect_tcp(r, "127.0.0.1", port, 5.0, &rec, &c1, &t1) == MARLINE_OK, "connect");
    CHECK(transport_write(t1, (const uint8_t *)"queued ", 7) == MARLINE_OK, "a write before the connection is up is queued");
    CHECK(run_until(r, &c1.made), "connection_made");
    CHECK(c1.t == t1, "callbacks receive the handle connect returned");
    CHECK(transport_write(t1, NULL, 5) == MARLINE_ERR_NULL_POINTER, "NULL data with a length is refused");
    CHECK(transport_write(t1, NULL, 0) == MARLINE_OK, "an empty write is a no-op");
    marline_iovec_t bad[2] = {{(const uint8_t *)"never", 5}, {NULL, 3}};
    CHECK(transport_write_sequence(t1, bad, 2) == MARLINE_ERR_NULL_POINTER, "write_sequence checks every element first");
    marline_iovec_t iov[3] = {{(const uint8_t *)"one ", 4}, {(const uint8_t *)"two ", 4}, {(const uint8_t *)"three", 5}};
    CHECK(transport_write_sequence(t1, iov, 3) == MARLINE_OK, "write_sequence");
    while (c1.len < 20 && reactor_run_once(r, 0.01) == MARLINE_OK && c1.lost == 0) {
    }
    CHECK(c1.len == 20 && memcmp(c1.data, "queued one two three", 20) == 0, "exact echo, in order, nothing from the bad sequence");

    void *user = NULL;
    CHECK(transport_get_user(t1, &user) == MARLINE_OK && user == &c1, "transport_get_user");

    /* The user pointer set between connect and connection_made is the one the callbacks get. */
    struct conn c_given, c_set;
    memset(&c_given, 0, sizeof c_given);
    memset(&c_set, 0, sizeof c_set);
    transport_t *t_set = NULL;
    CHECK(reactor_connect_tcp(r, "127.0.0.1", port, 5.0, &rec, &c_given, &t_set) == MARLINE_OK, "connect (user set later)");
    CHECK(transport_get_user(t_set, &user) == MARLINE_OK && user == &c_given, "the connect's user pointer at once");
    CHECK(transport_set_user(t_set, &c_set) == MARLINE_OK, "transport_set_user before connection_made");
    CHECK(run_until(r, &c_set.made) && !c_given.made, "connection_made gets the user pointer set after connect");
    CHECK(transport_abort_connection(t_set) == MARLINE_OK && run_until(r, &c_set.lost) && !c_given.lost, "so does connection_lost");
    bool on = true;
    CHECK(transport_get_tcp_nodelay(t1, &on) == MARLINE_OK && !on, "TCP_NODELAY off by default");
    CHECK(transport_set_tcp_nodelay(t1, true) == MARLINE_OK && transport_get_tcp_nodelay(t1, &on) == MARLINE_OK && on, "TCP_NODELAY on");
    CHECK(transport_get_tcp_keepalive(t1, &on) == MARLINE_OK && !on, "SO_KEEPALIVE off by default");
    int idle = 0, intvl = 0, cnt = 0;
    CHECK(transport_set_tcp_keepalive_params(t1, 30, 5, 4) == MARLINE_OK &&
              transport_get_tcp_keepalive_params(t1, &idle, &intvl, &cnt) == MARLINE_OK && idle == 30 && intvl == 5 && cnt == 4,
          "keepalive idle/interval/count round trip");
    CHECK(transport_get_tcp_keepalive(t1, &on) == MARLINE_OK && on, "keepalive params turn keepalive on");
    CHECK(transport_set_tcp_keepalive_params(t1, 0, 5, 4) == MARLINE_ERR_INVALID_ARGUMENT, "keepalive idle 0 refused");
    CHECK(transport_get_peer(t1, &addr) == MARLINE_OK && marline_address_port(addr) == port, "get_peer");
    marline_address_free(addr);

    /* The transport's reading as the producer of its writes. */
    CHECK(transport_register_reading_as_producer(NULL) == MARLINE_ERR_NULL_POINTER, "reading as producer: NULL transport");
    CHECK(transport_register_reading_as_producer(t1) == MARLINE_OK, "reading as producer");
    CHECK(transport_register_reading_as_producer(t1) == MARLINE_ERR_PRODUCER_ALREADY_REGISTERED, "reading as producer twice");
    CHECK(transport_unregister_producer(t1) == MARLINE_OK, "reading as producer unregisters");
    CHECK(transport_unregister_producer(t1) == MARLINE_ERR_NO_PRODUCER, "and then there is no producer");

    /* Another thread: only stop and call_from_thread are allowed. */
    struct thread_arg ta;
    memset(&ta, 0, sizeof ta);
    ta.r = r;
    ta.t = t1;
    pthread_t th;
    pthread_create(&th, NULL, other_thread, &ta);
    pthread_join(th, NULL);
    CHECK(ta.run_status == MARLINE_ERR_WRONG_THREAD, "reactor_run_once from another thread is WRONG_THREAD");
    CHECK(ta.write_status == MARLINE_ERR_WRONG_THREAD, "transport_write from another thread is WRONG_THREAD");
    CHECK(ta.call_status == MARLINE_OK, "reactor_call_from_thread from another thread");
    int backend = -1;
    CHECK(reactor_backend_fd(r, &backend) == MARLINE_OK && backend >= 0, "backend fd");
    struct pollfd pfd = {backend, POLLIN, 0};
    CHECK(poll(&pfd, 1, 1000) == 1, "the backend fd polls readable after a cross-thread call");
    int waited = thread_calls;
    for (int i = 0; i < 100 && thread_calls == waited; i++) reactor_run_once(r, 0.01);
    CHECK(thread_calls == 2, "the cross-thread call ran on the reactor thread");

    c1.close_on_data = 1;
    transport_write(t1, (const uint8_t *)"bye", 3);
    CHECK(run_until(r, &c1.lost) && c1.lost == 1 && c1.reason == MARLINE_REASON_DONE, "close from data_received: one DONE");
    CHECK(transport_write(t1, (const uint8_t *)"x", 1) == MARLINE_ERR_STALE_HANDLE, "write after connection_lost is STALE_HANDLE");
    CHECK(transport_lose_connection(t1) == MARLINE_ERR_STALE_HANDLE, "lose after connection_lost is STALE_HANDLE");
    CHECK(transport_register_reading_as_producer(t1) == MARLINE_ERR_STALE_HANDLE, "reading as producer after connection_lost");
    CHECK(transport_get_host(t1, &addr) == MARLINE_ERR_STALE_HANDLE, "get_host after connection_lost is STALE_HANDLE");

    /* Abort twice and lose, from inside data_received: exactly one ABORTED. */
    struct conn c2;
    memset(&c2, 0, sizeof c2);
    transport_t *t2 = NULL;
    reactor_connect_tcp(r, "::1", 0 + port, 5.0, &rec, &c2, &t2);
    run_until(r, &c2.failed);
    CHECK(c2.failed == 1 && c2.reason == MARLINE_REASON_REFUSED, "::1 has no listener: REFUSED");
    memset(&c2, 0, sizeof c2);
    reactor_connect_tcp(r, "127.0.0.1", port, 5.0, &rec, &c2, &t2);
    run_until(r, &c2.made);
    c2.abort_twice_on_data = 1;
    transport_write(t2, (const uint8_t *)"go", 2);
    run_until(r, &c2.lost);
    for (int i = 0; i < 5; i++) reactor_run_once(r, 0.01);
    CHECK(c2.abort_twice_on_data == 2, "connection_lost is not delivered inside the aborting call");
    CHECK(c2.lost == 1 && c2.reason == MARLINE_REASON_ABORTED, "abort, abort, lose: exactly one ABORTED");

    /* Name that does not resolve, and a lose while connecting. */
    struct conn c3;
    memset(&c3, 0, sizeof c3);
    transport_t *t3 = NULL;
    CHECK(reactor_connect_tcp(r, "nonexistent.invalid", 80, 5.0, &rec, &c3, &t3) == MARLINE_OK, "connect to an unresolvable name starts");
    CHECK(run_until(r, &c3.failed) && c3.reason == MARLINE_REASON_RESOLVE_FAILED && c3.lost == 0, "RESOLVE_FAILED via connection_failed");
    memset(&c3, 0, sizeof c3);
    reactor_connect_tcp(r, "127.0.0.1", port, 5.0, &rec, &c3, &t3);
    CHECK(transport_lose_connection(t3) == MARLINE_OK, "lose while connecting");
    CHECK(run_until(r, &c3.failed) && c3.reason == MARLINE_REASON_CANCELLED, "cancelled attempt reports CANCELLED");
    CHECK(reactor_connect_tcp(r, "127.0.0.1", 99999, 5.0, &rec, &c3, &t3) == MARLINE_ERR_INVALID_ARGUMENT, "connect port 99999");

    /* Delayed calls: equal times in order, cancel, reset, active. */
    delayed_call_t *da = NULL, *db = NULL, *dc = NULL, *dn = NULL;
    int never_flag = 0;
    reactor_call_later(r, 0.02, mark_a, NULL, &da);
    reactor_call_later(r, 0.02, mark_b, NULL, &db);
    reactor_call_later(r, 0.02, mark_c, NULL, &dc);
    reactor_call_later(r, 0.02, never, &never_flag, &dn);
    CHECK(delayed_call_active(dn), "a scheduled call is active");
    CHECK(delayed_call_cancel(dn) == MARLINE_OK && !delayed_call_active(dn), "cancel");
    CHECK(delayed_call_cancel(dn) == MARLINE_ERR_NOT_ACTIVE, "cancel twice is NOT_ACTIVE");
    CHECK(delayed_call_reset(da, 0.06) == MARLINE_OK, "reset pushes a to the end");
    CHECK(reactor_call_later(r, -1.0, mark_a, NULL, NULL) == MARLINE_ERR_INVALID_ARGUMENT, "negative delay refused");
    CHECK(reactor_call_later(r, 0.0, NULL, NULL, NULL) == MARLINE_ERR_NULL_POINTER, "NULL callback refused");
    reactor_call_later(r, 0.1, stop_it, NULL, NULL);
    CHECK(reactor_run(r) == MARLINE_OK, "run until a delayed call stops the loop");
    CHECK(order_len == 3 && memcmp(order, "bca", 3) == 0, "equal times fire in schedule order; reset moves a call");
    CHECK(never_flag == 0, "a cancelled call never runs");
    CHECK(delayed_call_cancel(db) == MARLINE_ERR_NOT_ACTIVE, "a call that ran is not active");

    /* Re-entrance from a callback. */
    int reentered = 0;
    reactor_call_later(r, 0, try_reenter, &reentered, NULL);
    run_until(r, &reentered);
    CHECK(nested_run == MARLINE_ERR_REENTRANT, "reactor_run inside a callback is REENTRANT");
    CHECK(nested_free == MARLINE_ERR_REENTRANT, "reactor_free inside a callback is REENTRANT");

    /* Stop from another thread. */
    struct conn c4;
    memset(&c4, 0, sizeof c4);
    pthread_create(&th, NULL, stopper_thread, &ta);
    pthread_join(th, NULL);
    CHECK(ta.stop_status == MARLINE_OK, "reactor_stop from another thread");
    CHECK(reactor_run(r) == MARLINE_OK, "a stop requested earlier makes run return");

    /* Freeing with open connections delivers their connection_lost. */
    transport_t *t4 = NULL;
    reactor_connect_tcp(r, "127.0.0.1", port, 5.0, &rec, &c4, &t4);
    run_until(r, &c4.made);
    for (int i = 0; i < 5; i++) reactor_run_once(r, 0.01);
    int echo_lost_before = echo_lost_count;
    CHECK(listening_port_stop(lp) == MARLINE_OK, "stop listening");
    CHECK(listening_port_stop(lp) == MARLINE_ERR_STALE_HANDLE, "stop listening twice is STALE_HANDLE");
    CHECK(reactor_free(r) == MARLINE_OK, "reactor_free with connections open");
    CHECK(c4.lost == 1 && c4.reason == MARLINE_REASON_SHUTDOWN, "client connection_lost(SHUTDOWN) delivered by free");
    CHECK(echo_lost_count == echo_lost_before + 1, "server connection_lost delivered by free (its state freed)");
    CHECK(reactor_run(r) == MARLINE_ERR_STALE_HANDLE, "a freed reactor is STALE_HANDLE");
    CHECK(transport_write(t4, (const uint8_t *)"x", 1) == MARLINE_ERR_STALE_HANDLE, "its transports are STALE_HANDLE");
    CHECK(reactor_free(r) == MARLINE_ERR_STALE_HANDLE, "freeing twice is STALE_HANDLE");

    /* IPv6. */
    CHECK(reactor_new(&r) == MARLINE_OK, "second reactor");
    port = listen_echo(r, "::1", &lp);
    struct conn c5;
    memset(&c5, 0, sizeof c5);
    transport_t *t5 = NULL;
    CHECK(reactor_connect_tcp(r, "::1", port, 5.0, &rec, &c5, &t5) == MARLINE_OK && run_until(r, &c5.made), "connect over IPv6");
    snprintf(expect, sizeof expect, "[::1]:%d", port);
    CHECK(transport_get_peer(t5, &addr) == MARLINE_OK && strcmp(marline_address_string(addr), expect) == 0 &&
              marline_address_family(addr) == MARLINE_FAMILY_IPV6,
          "IPv6 peer prints as [::1]:PORT");
    marline_address_free(addr);
    c5.stop_on_lost = 1;
    c5.reactor = r;
    transport_lose_connection(t5);
    transport_lose_connection(t5);
    CHECK(reactor_run(r) == MARLINE_OK && c5.lost == 1 && c5.reason == MARLINE_REASON_DONE, "lose twice: one DONE; stop from connection_lost");
    CHECK(reactor_free(r) == MARLINE_OK, "free");
    return check_summary();
}
