/*
 * test_log: marline_set_log_callback delivers the library's warnings.
 *
 * A telnet server allowing 8 bytes of subnegotiation meets a raw socket client that sends
 * 20: the connection drops and a MARLINE_LOG_WARN message saying why reaches the callback
 * of the reactor's thread, with its user pointer; another thread's callback hears
 * nothing; a NULL callback silences logging; setting the callback from inside the
 * callback fails with MARLINE_ERR_REENTRANT.
 *
 * One line per check ("ok - ..." or "FAIL - ..."); exit status 0 only if all pass.
 * Built as C99 and as C++ and run natively, under ASan+UBSan and under valgrind by
 * tests/c_programs.rs.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "marline.h"

#include "check.h"

typedef struct log_record {
    int calls;
    int level;
    char message[512];
    marline_status_t nested;
    int try_nested;
} log_record;

static void on_log(int level, const char *message, void *user) {
    log_record *r = (log_record *)user;
    r->calls++;
    r->level = level;
    snprintf(r->message, sizeof r->message, "%s", message);
    if (r->try_nested) {
        r->nested = marline_set_log_callback(on_log, user);
    }
}

static log_record other_thread_log;
static marline_status_t other_thread_status = MARLINE_ERR_PANIC;

static void *other_thread(void *unused) {
    (void)unused;
    other_thread_status = marline_set_log_callback(on_log, &other_thread_log);
    return NULL;
}

typedef struct server_state {
    int lost;
    int lost_kind;
} server_state;

static void srv_made(transport_t *t, void *user) {
    (void)user;
    telnet_set_max_subnegotiation(t, 8);
}

static void srv_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    server_state *s = (server_state *)user;
    (void)t;
    s->lost++;
    s->lost_kind = (int)marline_reason_kind(reason);
}

static reactor_t *reactor;

/* Connects a plain socket to 127.0.0.1:port and sends an oversized TTYPE
 * subnegotiation; returns the socket (to close later) or -1. */
static int send_oversized(int port) {
    static const unsigned char sb[] = {255, 250, 24, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j',
                                       'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 255, 240};
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        write(fd, sb, sizeof sb) != (ssize_t)sizeof sb) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* One oversized-subnegotiation connection against the listener; returns once the
 * server side has lost it. */
static int provoke(int port, server_state *srv) {
    int before = srv->lost;
    int fd = send_oversized(port);
    int done = 0;
    int i;
    if (fd < 0) return 0;
    for (i = 0; i < 500 && !done; i++) {
        reactor_run_once(reactor, 0.01);
        done = srv->lost > before;
    }
    close(fd);
    return done;
}

int main(void) {
    log_record log;
    server_state srv;
    telnet_protocol_t sp;
    listening_port_t *lp = NULL;
    pthread_t thread;
    int port = 0;

    memset(&log, 0, sizeof log);
    memset(&srv, 0, sizeof srv);
    memset(&other_thread_log, 0, sizeof other_thread_log);

    CHECK(marline_set_log_callback(on_log, &log) == MARLINE_OK, "marline_set_log_callback succeeds");
    CHECK(pthread_create(&thread, NULL, other_thread, NULL) == 0 && pthread_join(thread, NULL) == 0,
          "another thread sets its own callback");
    CHECK(other_thread_status == MARLINE_OK, "the other thread's marline_set_log_callback succeeds");

    CHECK(reactor_new(&reactor) == MARLINE_OK, "reactor_new");
    MARLINE_INIT(&sp);
    sp.connection_made = srv_made;
    sp.connection_lost = srv_lost;
    CHECK(reactor_listen_telnet(reactor, "127.0.0.1", 0, 0, &sp, &srv, &lp) == MARLINE_OK, "listen_telnet");
    CHECK(listening_port_get_port(lp, &port) == MARLINE_OK && port > 0, "bound port");

    CHECK(log.calls == 0, "nothing logged before anything went wrong");
    CHECK(provoke(port, &srv), "an oversized subnegotiation drops the connection");
    CHECK(srv.lost_kind == MARLINE_REASON_PROTOCOL_VIOLATION, "reason: protocol violation");
    CHECK(log.calls == 1, "exactly one message logged");
    CHECK(log.level == MARLINE_LOG_WARN, "at level MARLINE_LOG_WARN");
    CHECK(strstr(log.message, "subnegotiation") != NULL, "the message says what happened");
    printf("# logged: %s\n", log.message);
    CHECK(other_thread_log.calls == 0, "the other thread's callback heard nothing");

    log.try_nested = 1;
    CHECK(provoke(port, &srv), "a second violation");
    CHECK(log.calls == 2, "logged again");
    CHECK(log.nested == MARLINE_ERR_REENTRANT, "setting the callback from inside it is MARLINE_ERR_REENTRANT");
    log.try_nested = 0;

    CHECK(marline_set_log_callback(NULL, NULL) == MARLINE_OK, "a NULL callback is accepted");
    CHECK(provoke(port, &srv), "a third violation");
    CHECK(log.calls == 2, "with no callback nothing is delivered");

    CHECK(marline_set_log_callback(on_log, &log) == MARLINE_OK, "the callback can be set again");
    CHECK(provoke(port, &srv), "a fourth violation");
    CHECK(log.calls == 3, "delivered again");

    CHECK(listening_port_stop(lp) == MARLINE_OK, "listening_port_stop");
    CHECK(reactor_free(reactor) == MARLINE_OK, "reactor_free");
    CHECK(marline_set_log_callback(NULL, NULL) == MARLINE_OK, "callback removed before exit");
    return check_summary();
}
