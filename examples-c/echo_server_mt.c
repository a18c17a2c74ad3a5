/* echo_server_mt [PORT] [THREADS]: the echo server on THREADS reactors
 * (default 2), one per thread, all listening on 127.0.0.1:PORT with
 * MARLINE_LISTEN_REUSEPORT so the kernel spreads connections over them.
 * Prints "listening on 127.0.0.1:PORT" once every reactor listens, and
 * echoes every byte until killed, with echo_server's flow control (a peer
 * that does not read its echo is not read from). A reactor and its
 * connections stay on the thread that created it: the threads share
 * nothing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marline.h"

#define MAX_THREADS 64

static void on_made(transport_t *t, void *user) {
    (void)user;
    transport_set_tcp_nodelay(t, true);
    marline_status_t s = transport_register_reading_as_producer(t);
    if (s != MARLINE_OK) {
        fprintf(stderr, "echo_server_mt: register_reading_as_producer: %s\n", marline_strerror(s));
    }
}

static void on_data(transport_t *t, const uint8_t *data, size_t len, void *user) {
    (void)user;
    marline_status_t s = transport_write(t, data, len);
    if (s != MARLINE_OK) {
        fprintf(stderr, "echo_server_mt: write failed: %s\n", marline_strerror(s));
    }
}

typedef struct {
    int port;                /* in: the port to share (0 for the first) */
    int bound;               /* out: the port it listens on */
    marline_status_t status; /* out: how listening went */
    reactor_t *reactor;
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
    int *ready;
} worker_t;

/* Creates a reactor listening on w->port; reports to the main thread. */
static marline_status_t listen_here(worker_t *w) {
    marline_status_t s = reactor_new(&w->reactor);
    if (s != MARLINE_OK) return s;
    marline_protocol_t echo;
    MARLINE_INIT(&echo);
    echo.connection_made = on_made;
    echo.data_received = on_data;
    listening_port_t *lp = NULL;
    s = reactor_listen_tcp_flags(w->reactor, "127.0.0.1", w->port, 0, MARLINE_LISTEN_REUSEPORT, &echo, NULL, &lp);
    if (s == MARLINE_OK) listening_port_get_port(lp, &w->bound);
    return s;
}

static void *worker(void *arg) {
    worker_t *w = (worker_t *)arg;
    w->status = listen_here(w);
    pthread_mutex_lock(w->lock);
    (*w->ready)++;
    pthread_cond_signal(w->cond);
    pthread_mutex_unlock(w->lock);
    if (w->status == MARLINE_OK) reactor_run(w->reactor);
    return NULL;
}

static int parse(const char *text, long lo, long hi) {
    char *end = NULL;
    long v = strtol(text, &end, 10);
    return (*text == '\0' || *end != '\0' || v < lo || v > hi) ? -1 : (int)v;
}

int main(int argc, char **argv) {
    int port = 0, threads = 2;
    if (argc > 3 || (argc > 1 && (port = parse(argv[1], 0, 65535)) < 0) || (argc > 2 && (threads = parse(argv[2], 1, MAX_THREADS)) < 0)) {
        fprintf(stderr, "usage: echo_server_mt [PORT] [THREADS]   (PORT 0-65535, 0 picks a free port; THREADS 1-%d)\n", MAX_THREADS);
        return 2;
    }
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    int ready = 0;
    worker_t w[MAX_THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < threads; i++) {
        w[i].lock = &lock;
        w[i].cond = &cond;
        w[i].ready = &ready;
    }
    /* The main thread's reactor listens first: with port 0 it picks the
     * port the others then share. */
    w[0].port = port;
    w[0].status = listen_here(&w[0]);
    if (w[0].status != MARLINE_OK) {
        fprintf(stderr, "echo_server_mt: cannot listen on 127.0.0.1:%d: %s\n", port, marline_strerror(w[0].status));
        return 1;
    }
    pthread_t tid[MAX_THREADS];
    for (int i = 1; i < threads; i++) {
        w[i].port = w[0].bound;
        if (pthread_create(&tid[i], NULL, worker, &w[i]) != 0) {
            fprintf(stderr, "echo_server_mt: cannot start thread %d\n", i);
            return 1;
        }
    }
    pthread_mutex_lock(&lock);
    while (ready < threads - 1) pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    for (int i = 1; i < threads; i++) {
        if (w[i].status != MARLINE_OK) {
            fprintf(stderr, "echo_server_mt: thread %d cannot listen on port %d: %s\n", i, w[0].bound, marline_strerror(w[i].status));
            return 1;
        }
    }
    printf("listening on 127.0.0.1:%d\n", w[0].bound);
    fflush(stdout);
    marline_status_t s = reactor_run(w[0].reactor);
    return s == MARLINE_OK ? 0 : 1;
}
