/*
 * test_exit: a program that never calls reactor_free gets no callback once its thread
 * has ended (issue 12 item 12).
 *
 * A reactor is torn down when its thread ends if the program never freed it: for the main
 * thread, after main returns (exit runs the thread-local destructors). That teardown
 * closes every descriptor and calls nothing back, because the pointers the callbacks
 * would get may be gone.
 *
 * - A child process calls exit(0) from inside a delayed call, with reactor_run on the
 *   stack and a TCP connection open: it exits 0 and nothing is called back.
 * - A thread makes a reactor with a TCP connection to itself and returns without
 *   reactor_free: no callback runs, and every descriptor it opened is closed.
 * - main makes a reactor with a TCP connection to itself, a telnet client on a raw
 *   listener with a WILL request the peer never answers, and `cat` as a child process;
 *   then frees the state every callback's user pointer points to and returns. A
 *   connection_lost, telnet completion, child_connection_lost or process_ended after that
 *   would touch freed memory (ASan, valgrind) and prints FAIL with exit status 1.
 *
 * One line per check ("ok - ..." or "FAIL - ..."); exit status 0 only if all pass.
 * Built as C99 and as C++ and run natively, under ASan+UBSan and under valgrind by
 * tests/c_programs.rs.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "marline.h"

#include "check.h"

typedef struct state {
    int made;
    int events;
} state;

/* Set once the callbacks' state is gone; a callback seeing it fails the test. */
static volatile int state_gone = 0;

static void touch(void *user, const char *what) {
    state *s = (state *)user;
    if (state_gone) {
        printf("FAIL - %s called back after its program let go of the reactor\n", what);
        fflush(stdout);
        _exit(1);
    }
    s->events++;
}

static void on_made(transport_t *t, void *user) {
    (void)t;
    ((state *)user)->made++;
    touch(user, "connection_made");
}

static void on_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    (void)reason;
    touch(user, "connection_lost");
}

static void on_failed(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    (void)reason;
    touch(user, "connection_failed");
}

static void on_child_data(transport_t *t, int32_t fd, const uint8_t *data, size_t len, void *user) {
    (void)t;
    (void)fd;
    (void)data;
    (void)len;
    touch(user, "child_data_received");
}

static void on_child_lost(transport_t *t, int32_t fd, void *user) {
    (void)t;
    (void)fd;
    touch(user, "child_connection_lost");
}

static void on_process_ended(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    (void)reason;
    touch(user, "process_ended");
}

static void on_completion(transport_t *t, uint8_t option, marline_telnet_result_t result, const marline_reason_t *reason,
                          void *user) {
    (void)t;
    (void)option;
    (void)result;
    (void)reason;
    touch(user, "a telnet completion");
}

static marline_protocol_t tcp_table(void) {
    marline_protocol_t p;
    MARLINE_INIT(&p);
    p.connection_made = on_made;
    p.connection_lost = on_lost;
    p.connection_failed = on_failed;
    return p;
}

static int open_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return -1;
    }
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n;
}

/* Listens on a free loopback port, connects to it, runs until both ends are made. */
static int connect_to_self(reactor_t *r, state *s, int *port_out) {
    marline_protocol_t p = tcp_table();
    listening_port_t *lp = NULL;
    transport_t *client = NULL;
    int port = 0, turns = 0;
    if (reactor_listen_tcp(r, "127.0.0.1", 0, 0, &p, s, &lp) != MARLINE_OK ||
        listening_port_get_port(lp, &port) != MARLINE_OK ||
        reactor_connect_tcp(r, "127.0.0.1", port, 5.0, &p, s, &client) != MARLINE_OK) {
        return 0;
    }
    while (s->made < 2 && turns++ < 1000) {
        reactor_run_once(r, 0.01);
    }
    if (port_out != NULL) {
        *port_out = port;
    }
    return s->made == 2;
}

static void exit_now(reactor_t *r, void *user) {
    (void)r;
    state_gone = 1;
    free(user);
    exit(0);
}

/* In a child: a connection, then exit(0) from a callback while the loop runs. */
static void exit_inside_a_callback(void) {
    reactor_t *r = NULL;
    state *s = (state *)calloc(1, sizeof *s);
    if (s == NULL || reactor_new(&r) != MARLINE_OK || !connect_to_self(r, s, NULL) ||
        reactor_call_later(r, 0.0, exit_now, s, NULL) != MARLINE_OK) {
        _exit(2);
    }
    reactor_run(r);
    _exit(3);
}

static int thread_ok = 0;

static void *thread_main(void *unused) {
    reactor_t *r = NULL;
    state *s = (state *)calloc(1, sizeof *s);
    (void)unused;
    if (s != NULL && reactor_new(&r) == MARLINE_OK && connect_to_self(r, s, NULL)) {
        thread_ok = 1;
    }
    /* Returns with the reactor, its port and both ends still open. */
    state_gone = 1;
    free(s);
    return NULL;
}

int main(void) {
    reactor_t *r = NULL;
    state *s = (state *)calloc(1, sizeof *s);
    pthread_t th;
    int before, port = 0, turns = 0;
    marline_protocol_t raw = tcp_table();
    telnet_protocol_t tp;
    marline_process_protocol_t pp;
    listening_port_t *raw_port = NULL;
    transport_t *tn = NULL, *child = NULL;
    const char *argv[] = {"cat", NULL};

    /* exit inside a callback, in a child process (before this one has any thread). */
    {
        int status = 0;
        pid_t pid;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            exit_inside_a_callback();
        }
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "child started and reaped");
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit() inside a callback: status 0, no callback after it");
    }

    /* A thread that ends without reactor_free. */
    before = open_fds();
    CHECK(pthread_create(&th, NULL, thread_main, NULL) == 0, "thread started");
    pthread_join(th, NULL);
    CHECK(thread_ok, "the thread's reactor had a connection to itself");
    CHECK(open_fds() == before, "every descriptor the thread's reactor had is closed");
    state_gone = 0;

    /* main returns without reactor_free. */
    CHECK(s != NULL && reactor_new(&r) == MARLINE_OK, "reactor_new");
    CHECK(connect_to_self(r, s, NULL), "a TCP connection to itself");

    MARLINE_INIT(&tp);
    tp.connection_made = on_made;
    tp.connection_lost = on_lost;
    tp.connection_failed = on_failed;
    CHECK(reactor_listen_tcp(r, "127.0.0.1", 0, 0, &raw, s, &raw_port) == MARLINE_OK &&
              listening_port_get_port(raw_port, &port) == MARLINE_OK,
          "a raw TCP listener");
    CHECK(reactor_connect_telnet(r, "127.0.0.1", port, 5.0, &tp, s, &tn) == MARLINE_OK, "a telnet client to it");
    while (s->made < 4 && turns++ < 1000) {
        reactor_run_once(r, 0.01);
    }
    CHECK(s->made == 4, "telnet client connected");
    CHECK(telnet_will(tn, 1, on_completion, s) == MARLINE_OK, "a WILL ECHO the raw peer never answers");

    MARLINE_INIT(&pp);
    pp.connection_made = on_made;
    pp.child_data_received = on_child_data;
    pp.child_connection_lost = on_child_lost;
    pp.process_ended = on_process_ended;
    CHECK(reactor_spawn_process(r, "cat", argv, NULL, NULL, NULL, 0, false, &pp, s, &child) == MARLINE_OK, "cat spawned");
    turns = 0;
    while (s->made < 5 && turns++ < 1000) {
        reactor_run_once(r, 0.01);
    }
    CHECK(s->made == 5, "cat's transport made");
    CHECK(transport_write(child, (const uint8_t *)"x", 1) == MARLINE_OK, "cat has input");

    state_gone = 1;
    free(s);
    return check_summary();
}
