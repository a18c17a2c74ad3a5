/* test_stream: the blocking MacTCP-style stream C API (tcp_stream_*).
 * Prints one line per check; exits 0 when every check passes. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "marline.h"

#include "check.h"

#define CHECK_STATUS(call, expected, what) \
    do {                                   \
        marline_status_t got_ = (call);    \
        CHECK(got_ == (expected), what);   \
        if (got_ != (expected)) {          \
            printf("#   got %d (%s)\n", (int)got_, marline_strerror((int)got_)); \
        }                                  \
    } while (0)

/* ---- a recording asr (it runs on the stream's engine thread) ---- */

#define MAX_EVENTS 64
typedef struct {
    pthread_mutex_t lock;
    int count;
    int events[MAX_EVENTS];
    int details[MAX_EVENTS];
    tcp_stream_t *stream;
    int wrong_stream;
} event_log;

static void log_init(event_log *log) {
    memset(log, 0, sizeof *log);
    pthread_mutex_init(&log->lock, NULL);
}

static void log_destroy(event_log *log) {
    pthread_mutex_destroy(&log->lock);
}

static void record(tcp_stream_t *stream, tcp_stream_event_t event, int32_t detail, void *user) {
    event_log *log = (event_log *)user;
    pthread_mutex_lock(&log->lock);
    if (stream != log->stream) {
        log->wrong_stream++;
    }
    if (log->count < MAX_EVENTS) {
        log->events[log->count] = (int)event;
        log->details[log->count] = detail;
        log->count++;
    }
    pthread_mutex_unlock(&log->lock);
}

static void sleep_ms(long ms) {
    struct timespec t;
    t.tv_sec = ms / 1000;
    t.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&t, NULL);
}

/* Waits up to 5 s for `event` (with `detail`) to be in the log. */
static int saw(event_log *log, int event, int detail) {
    int i, tries, found = 0;
    for (tries = 0; tries < 2500 && !found; tries++) {
        pthread_mutex_lock(&log->lock);
        for (i = 0; i < log->count; i++) {
            if (log->events[i] == event && log->details[i] == detail) {
                found = 1;
            }
        }
        pthread_mutex_unlock(&log->lock);
        if (!found) {
            sleep_ms(2);
        }
    }
    return found;
}

static int count_of(event_log *log, int event) {
    int i, n = 0;
    pthread_mutex_lock(&log->lock);
    for (i = 0; i < log->count; i++) {
        if (log->events[i] == event) {
            n++;
        }
    }
    pthread_mutex_unlock(&log->lock);
    return n;
}

static int port_of(tcp_stream_t *s) {
    marline_address_t *a = NULL;
    int port = -1;
    if (tcp_stream_get_sock_name(s, &a) == MARLINE_OK) {
        port = (int)marline_address_port(a);
        marline_address_free(a);
    }
    return port;
}

static marline_status_t get_status(tcp_stream_t *s, tcp_stream_status_t *st) {
    memset(st, 0, sizeof *st);
    st->size = sizeof *st;
    return tcp_stream_status(s, st);
}

static uint32_t unread_of(tcp_stream_t *s) {
    tcp_stream_status_t st;
    return get_status(s, &st) == MARLINE_OK ? st.unread_bytes : 0;
}

static int wait_unread(tcp_stream_t *s, uint32_t n) {
    int tries;
    for (tries = 0; tries < 2500; tries++) {
        if (unread_of(s) == n) {
            return 1;
        }
        sleep_ms(2);
    }
    return 0;
}

static void test_handles(void) {
    tcp_stream_t *s = NULL;
    bool done = false;
    CHECK_STATUS(tcp_stream_new(NULL), MARLINE_ERR_NULL_POINTER, "new with NULL out");
    CHECK_STATUS(tcp_stream_free(NULL), MARLINE_ERR_NULL_POINTER, "free of NULL");
    CHECK_STATUS(tcp_stream_new(&s), MARLINE_OK, "new");
    CHECK_STATUS(tcp_stream_isdone(s, &done), MARLINE_OK, "isdone on a new stream");
    CHECK(done, "a new stream has nothing pending");
    CHECK_STATUS(tcp_stream_send(s, (const uint8_t *)"x", 1, true, false), MARLINE_ERR_NOT_CONNECTED, "send before any open");
    CHECK_STATUS(tcp_stream_free(s), MARLINE_OK, "free");
    CHECK_STATUS(tcp_stream_free(s), MARLINE_ERR_STALE_HANDLE, "second free is detected");
    CHECK_STATUS(tcp_stream_passive_open(s, 0), MARLINE_ERR_STALE_HANDLE, "use after free is detected");
    CHECK(strcmp(marline_strerror(MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS), "a passive open is in progress") == 0,
          "strerror of PASSIVE_OPEN_IN_PROGRESS");
    CHECK(strlen(marline_strerror(MARLINE_ERR_CONNECTION_CLOSING)) > 0, "strerror of CONNECTION_CLOSING");
}

static void test_session(void) {
    tcp_stream_t *server = NULL, *client = NULL;
    event_log log;
    bool done = true, urgent = false, mark = false;
    uint8_t buf[64];
    size_t len = 0;
    int port;
    tcp_stream_status_t st;

    log_init(&log);
    tcp_stream_new(&server);
    tcp_stream_new(&client);
    log.stream = server;
    CHECK_STATUS(tcp_stream_set_asr(server, record, &log), MARLINE_OK, "set_asr");
    CHECK_STATUS(tcp_stream_passive_open_on(server, "127.0.0.1", 0), MARLINE_OK, "passive open returns at once");
    CHECK_STATUS(tcp_stream_isdone(server, &done), MARLINE_OK, "isdone during passive open");
    CHECK(!done, "passive open is pending");
    port = port_of(server);
    CHECK(port > 0, "get_sock_name gives the listening port");
    CHECK_STATUS(get_status(server, &st), MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS, "status during passive open");
    CHECK_STATUS(tcp_stream_send(server, buf, 1, true, false), MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS, "send during passive open");
    CHECK_STATUS(tcp_stream_rcv(server, 1.0, buf, sizeof buf, &len, &urgent, &mark), MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS,
                 "rcv during passive open");
    CHECK_STATUS(tcp_stream_wait(server, 0.01), MARLINE_ERR_TIMED_OUT, "wait with a short limit times out");

    CHECK_STATUS(tcp_stream_active_open(client, 0, "127.0.0.1", port, 5.0), MARLINE_OK, "active open");
    CHECK_STATUS(tcp_stream_wait(server, 5.0), MARLINE_OK, "wait for the passive open");
    CHECK_STATUS(tcp_stream_isdone(server, &done), MARLINE_OK, "isdone after");
    CHECK(done, "passive open is done");
    CHECK(saw(&log, TCP_STREAM_EVENT_PASSIVE_OPEN_DONE, 0), "asr got PASSIVE_OPEN_DONE");

    /* Urgent data: "ab" normal, then "URG" urgent (G is the urgent byte). */
    CHECK_STATUS(tcp_stream_send(client, (const uint8_t *)"ab", 2, true, false), MARLINE_OK, "send normal data");
    CHECK_STATUS(tcp_stream_send(client, (const uint8_t *)"URG", 3, true, true), MARLINE_OK, "send urgent data");
    CHECK(wait_unread(server, 5), "5 bytes arrived");
    CHECK_STATUS(tcp_stream_rcv(server, 5.0, buf, sizeof buf, &len, &urgent, &mark), MARLINE_OK, "rcv before the mark");
    CHECK(len == 4 && memcmp(buf, "abUR", 4) == 0 && urgent && !mark, "\"abUR\" urgent, no mark");
    CHECK_STATUS(tcp_stream_rcv(server, 5.0, buf, sizeof buf, &len, &urgent, &mark), MARLINE_OK, "rcv at the mark");
    /* Seed: "The first call returning urgent data will have the urgent flag
     * set, the last will have the mark flag set." */
    CHECK(len == 1 && buf[0] == 'G' && !urgent && mark, "\"G\" mark, not urgent (the last piece)");
    CHECK(saw(&log, TCP_STREAM_EVENT_URGENT, 0) && count_of(&log, TCP_STREAM_EVENT_URGENT) == 1, "asr got URGENT once");

    /* Status record. */
    CHECK_STATUS(get_status(server, &st), MARLINE_OK, "status");
    CHECK(st.size == sizeof st, "status size filled");
    CHECK(st.state == TCP_STREAM_STATE_ESTABLISHED, "state ESTABLISHED");
    CHECK(st.family == 4 && st.local_host[0] == 127 && st.local_port == port, "local address");
    CHECK(st.remote_port == port_of(client), "remote port");
    CHECK(st.unread_bytes == 0 && st.bytes_received == 5, "unread 0, received 5");

    /* Bad input. */
    CHECK_STATUS(tcp_stream_rcv(server, 1.0, buf, 0, &len, &urgent, &mark), MARLINE_ERR_INVALID_ARGUMENT, "rcv with cap 0");
    CHECK_STATUS(tcp_stream_rcv(server, 1e-9, buf, sizeof buf, &len, &urgent, &mark), MARLINE_ERR_TIMED_OUT, "tiny timeout");
    CHECK_STATUS(tcp_stream_rcv(server, -1.0, buf, sizeof buf, &len, &urgent, &mark), MARLINE_ERR_INVALID_ARGUMENT,
                 "negative timeout");

    /* Close: returns once acknowledged; then send is refused. */
    CHECK_STATUS(tcp_stream_close(client, 5.0), MARLINE_OK, "close");
    CHECK_STATUS(get_status(client, &st), MARLINE_OK, "client status after close");
    CHECK(st.unacked_bytes == 0, "nothing unacknowledged after close");
    CHECK_STATUS(tcp_stream_send(client, (const uint8_t *)"x", 1, true, false), MARLINE_ERR_CLOSED, "send on a closed stream");
    CHECK_STATUS(tcp_stream_rcv(server, 5.0, buf, sizeof buf, &len, &urgent, &mark), MARLINE_ERR_CONNECTION_CLOSING,
                 "rcv at the peer's end of stream");
    CHECK(saw(&log, TCP_STREAM_EVENT_CLOSING, 0), "asr got CLOSING");
    CHECK_STATUS(get_status(server, &st), MARLINE_OK, "server status after peer close");
    CHECK(st.state == TCP_STREAM_STATE_CLOSE_WAIT, "state CLOSE_WAIT");
    CHECK_STATUS(tcp_stream_send(server, (const uint8_t *)"late", 4, true, false), MARLINE_OK, "send in CLOSE_WAIT");
    CHECK_STATUS(tcp_stream_rcv(client, 5.0, buf, sizeof buf, &len, &urgent, &mark), MARLINE_OK, "rcv after own close");
    CHECK(len == 4 && memcmp(buf, "late", 4) == 0 && !urgent && !mark, "got \"late\"");

    CHECK_STATUS(tcp_stream_abort(server), MARLINE_OK, "abort");
    CHECK(saw(&log, TCP_STREAM_EVENT_TERMINATE, TCP_STREAM_REASON_ULP_ABORT), "asr got TERMINATE(ULP_ABORT)");
    CHECK_STATUS(tcp_stream_send(server, buf, 1, true, false), MARLINE_ERR_TERMINATED, "send after abort");
    CHECK_STATUS(tcp_stream_free(server), MARLINE_OK, "free server");
    CHECK_STATUS(tcp_stream_free(client), MARLINE_OK, "free client");
    CHECK(log.wrong_stream == 0, "asr always got its own stream");
    log_destroy(&log);
}

static void test_failures(void) {
    tcp_stream_t *a = NULL, *b = NULL;
    event_log log;
    int port;
    bool done = false;

    tcp_stream_new(&a);
    tcp_stream_new(&b);
    CHECK_STATUS(tcp_stream_passive_open_on(a, "127.0.0.1", 0), MARLINE_OK, "passive open");
    port = port_of(a);
    CHECK_STATUS(tcp_stream_passive_open_on(b, "127.0.0.1", port), MARLINE_ERR_ADDRESS_IN_USE, "passive open on a port in use");
    CHECK_STATUS(tcp_stream_passive_open_on(b, "not an address", 0), MARLINE_ERR_BAD_ADDRESS, "passive open on a bad address");
    CHECK_STATUS(tcp_stream_passive_open_on(b, NULL, 0), MARLINE_ERR_NULL_POINTER, "passive open on NULL");
    CHECK_STATUS(tcp_stream_set_ulp_timeout(b, 2.0, TCP_STREAM_ULP_ABORT), MARLINE_OK, "set a ULP timeout (abort)");
    CHECK_STATUS(tcp_stream_set_ulp_timeout(b, 2.0, 7), MARLINE_ERR_INVALID_ARGUMENT, "unknown ULP timeout action");
    CHECK_STATUS(tcp_stream_set_ulp_timeout(b, 0.0, TCP_STREAM_ULP_REPORT), MARLINE_OK, "ULP timeout off");
    CHECK_STATUS(tcp_stream_isdone(b, &done), MARLINE_OK, "isdone after the failed open");
    CHECK(done, "nothing pending after a failed open");
    CHECK_STATUS(tcp_stream_free(a), MARLINE_OK, "free with a passive open pending");

    log_init(&log);
    log.stream = b;
    tcp_stream_set_asr(b, record, &log);
    CHECK_STATUS(tcp_stream_active_open(b, 0, "127.0.0.1", port, 5.0), MARLINE_ERR_REFUSED, "active open to a refused port");
    CHECK(saw(&log, TCP_STREAM_EVENT_TERMINATE, TCP_STREAM_REASON_REMOTE_ABORT), "asr got TERMINATE(REMOTE_ABORT)");
    CHECK_STATUS(tcp_stream_active_open(b, 0, NULL, port, 5.0), MARLINE_ERR_NULL_POINTER, "active open with NULL host");
    CHECK_STATUS(tcp_stream_free(b), MARLINE_OK, "free");
    log_destroy(&log);
}

/* Seed: "It is safe to do further calls from the asr." On DATA_ARRIVAL
 * the asr receives, answers, reads the status, and frees its own stream. */
typedef struct {
    pthread_mutex_t lock;
    int calls, done;
    marline_status_t rcv, send, status, free_status, after_free;
    size_t len;
    uint8_t got[16];
    int state_before_free;
} asr_calls;

static void calling_asr(tcp_stream_t *stream, tcp_stream_event_t event, int32_t detail, void *user) {
    asr_calls *c = (asr_calls *)user;
    tcp_stream_status_t st;
    bool urgent = false, mark = false;
    (void)detail;
    if (event != TCP_STREAM_EVENT_DATA_ARRIVAL) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->calls++;
    c->rcv = tcp_stream_rcv(stream, 5.0, c->got, sizeof c->got, &c->len, &urgent, &mark);
    c->send = tcp_stream_send(stream, c->got, c->len, true, false);
    c->status = get_status(stream, &st);
    c->state_before_free = st.state;
    c->free_status = tcp_stream_free(stream);
    c->after_free = tcp_stream_send(stream, c->got, 1, true, false);
    c->done = 1;
    pthread_mutex_unlock(&c->lock);
}

static void test_calls_from_the_asr(void) {
    tcp_stream_t *server = NULL, *client = NULL;
    asr_calls c;
    uint8_t buf[16];
    size_t len = 0;
    bool urgent = false, mark = false;
    int tries, done = 0;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.lock, NULL);
    tcp_stream_new(&server);
    tcp_stream_new(&client);
    tcp_stream_passive_open_on(server, "127.0.0.1", 0);
    CHECK_STATUS(tcp_stream_active_open(client, 0, "127.0.0.1", port_of(server), 5.0), MARLINE_OK, "asr test: connect");
    CHECK_STATUS(tcp_stream_wait(server, 5.0), MARLINE_OK, "asr test: accepted");
    CHECK_STATUS(tcp_stream_set_asr(server, calling_asr, &c), MARLINE_OK, "asr test: set_asr");
    CHECK_STATUS(tcp_stream_send(client, (const uint8_t *)"ping", 4, true, false), MARLINE_OK, "asr test: send ping");
    CHECK_STATUS(tcp_stream_rcv(client, 5.0, buf, sizeof buf, &len, &urgent, &mark), MARLINE_OK, "the asr's answer arrives");
    CHECK(len == 4 && memcmp(buf, "ping", 4) == 0, "the asr received \"ping\" and sent it back");
    for (tries = 0; tries < 2500 && !done; tries++) {
        pthread_mutex_lock(&c.lock);
        done = c.done;
        pthread_mutex_unlock(&c.lock);
        if (!done) {
            sleep_ms(2);
        }
    }
    CHECK(done && c.calls == 1, "the asr ran once");
    CHECK(c.rcv == MARLINE_OK && c.send == MARLINE_OK && c.status == MARLINE_OK, "rcv, send, status inside the asr");
    CHECK(c.state_before_free == TCP_STREAM_STATE_ESTABLISHED, "established inside the asr");
    CHECK(c.free_status == MARLINE_OK && c.after_free == MARLINE_ERR_STALE_HANDLE, "free inside the asr, handle stale after");
    CHECK_STATUS(tcp_stream_rcv(client, 5.0, buf, sizeof buf, &len, &urgent, &mark), MARLINE_ERR_CONNECTION_CLOSING,
                 "the freed stream closed its connection");
    CHECK_STATUS(tcp_stream_free(server), MARLINE_ERR_STALE_HANDLE, "the server was freed by its asr");
    tcp_stream_free(client);
    pthread_mutex_destroy(&c.lock);
}

/* Issue 13 item 8: the passive open takes the local address, IPv6 too. */
static void test_ipv6(void) {
    static const uint8_t loopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    tcp_stream_t *server = NULL, *client = NULL;
    tcp_stream_status_t st;
    int port;
    tcp_stream_new(&server);
    tcp_stream_new(&client);
    CHECK_STATUS(tcp_stream_passive_open_on(server, "::1", 0), MARLINE_OK, "passive open on ::1");
    port = port_of(server);
    CHECK_STATUS(tcp_stream_active_open(client, 0, "127.0.0.1", port, 5.0), MARLINE_ERR_REFUSED,
                 "IPv4 to an IPv6 loopback listener is refused");
    CHECK_STATUS(tcp_stream_active_open(client, 0, "::1", port, 5.0), MARLINE_OK, "active open to ::1");
    CHECK_STATUS(tcp_stream_wait(server, 5.0), MARLINE_OK, "wait on ::1");
    CHECK_STATUS(get_status(server, &st), MARLINE_OK, "status of the IPv6 connection");
    CHECK(st.family == 6 && memcmp(st.local_host, loopback6, 16) == 0 && st.local_port == port, "local [::1]:port");
    CHECK(memcmp(st.remote_host, loopback6, 16) == 0 && st.remote_port == port_of(client), "remote [::1]");
    tcp_stream_free(server);
    tcp_stream_free(client);
}

/* Two threads, each with its own stream pair, at the same time. */
static void *echo_once(void *arg) {
    tcp_stream_t *server = NULL, *client = NULL;
    uint8_t buf[16];
    size_t len = 0;
    bool urgent, mark;
    int i, *ok = (int *)arg;
    *ok = 0;
    tcp_stream_new(&server);
    tcp_stream_new(&client);
    if (tcp_stream_passive_open_on(server, "127.0.0.1", 0) == MARLINE_OK &&
        tcp_stream_active_open(client, 0, "127.0.0.1", port_of(server), 5.0) == MARLINE_OK &&
        tcp_stream_wait(server, 5.0) == MARLINE_OK) {
        *ok = 1;
        for (i = 0; i < 100 && *ok; i++) {
            if (tcp_stream_send(client, (const uint8_t *)"ping", 4, true, false) != MARLINE_OK ||
                tcp_stream_rcv(server, 5.0, buf, 4, &len, &urgent, &mark) != MARLINE_OK || len != 4 ||
                memcmp(buf, "ping", 4) != 0) {
                *ok = 0;
            }
        }
    }
    tcp_stream_free(server);
    tcp_stream_free(client);
    return NULL;
}

static void test_threads(void) {
    pthread_t t1, t2;
    int ok1 = 0, ok2 = 0;
    pthread_create(&t1, NULL, echo_once, &ok1);
    pthread_create(&t2, NULL, echo_once, &ok2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK(ok1 && ok2, "two threads, each with its own streams");
}

int main(void) {
    test_handles();
    test_session();
    test_failures();
    test_ipv6();
    test_calls_from_the_asr();
    test_threads();
    return check_summary();
}
