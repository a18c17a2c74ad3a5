/* exec_server [PORT] -- COMMAND [ARGS...]
 *
 * Listens on 127.0.0.1:PORT (0 or absent: a free port) and prints
 * "listening on 127.0.0.1:PORT" as its first line. Like inetd, each
 * connection runs COMMAND bridged to it: what the client sends is the
 * command's stdin (EOF from the client closes it), the command's stdout and
 * stderr go to the client, and when both have closed the server half-closes
 * toward the client. The exit status ("exit-status N" or "exit-signal NAME")
 * goes to the server's stderr; then the connection is closed. Usage errors
 * print a message and exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marline.h"

static char **command; /* NULL-terminated, points into argv */

static void on_exit_status(bridge_t *b, transport_t *remote, int32_t code, void *user) {
    (void)b;
    (void)remote;
    (void)user;
    fprintf(stderr, "exec_server: %s: exit-status %d\n", command[0], (int)code);
}

static void on_exit_signal(bridge_t *b, transport_t *remote, const char *name, bool core, void *user) {
    (void)b;
    (void)remote;
    (void)user;
    fprintf(stderr, "exec_server: %s: exit-signal %s%s\n", command[0], name, core ? " (core dumped)" : "");
}

static void on_made(transport_t *t, void *user) {
    marline_bridge_callbacks_t cb;
    bridge_t *b = NULL;
    marline_status_t s;
    (void)user;
    memset(&cb, 0, sizeof cb);
    cb.exit_status = on_exit_status;
    cb.exit_signal = on_exit_signal;
    s = process_bridge(t, true, &cb, NULL, &b);
    if (s == MARLINE_OK) {
        s = process_bridge_spawn(b, command[0], (const char *const *)command, NULL, NULL, false, NULL);
    }
    if (s != MARLINE_OK) {
        fprintf(stderr, "exec_server: cannot run %s: %s\n", command[0], marline_strerror(s));
        if (b != NULL) {
            process_bridge_close(b);
        }
        transport_lose_connection(t);
        return;
    }
    transport_set_user(t, b);
}

static void on_data(transport_t *t, const uint8_t *data, size_t len, void *user) {
    (void)t;
    process_bridge_feed((bridge_t *)user, data, len);
}

static void on_read_lost(transport_t *t, void *user) {
    (void)t;
    process_bridge_remote_eof((bridge_t *)user);
}

static void on_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    (void)reason;
    if (user != NULL) {
        process_bridge_close((bridge_t *)user);
    }
}

static int parse_port(const char *text) {
    char *end = NULL;
    long port = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || port < 0 || port > 65535) {
        return -1;
    }
    return (int)port;
}

static int usage(void) {
    fprintf(stderr, "usage: exec_server [PORT] -- COMMAND [ARGS...]   (PORT 0-65535; 0 picks a free port)\n");
    return 2;
}

int main(int argc, char **argv) {
    int port = 0, sep = -1, i;
    reactor_t *reactor = NULL;
    listening_port_t *lp = NULL;
    marline_protocol_t proto;
    marline_status_t s;
    int bound = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            sep = i;
            break;
        }
    }
    if (sep < 0 || sep > 2 || sep + 1 >= argc) {
        return usage();
    }
    if (sep == 2 && (port = parse_port(argv[1])) < 0) {
        return usage();
    }
    command = argv + sep + 1;

    s = reactor_new(&reactor);
    if (s != MARLINE_OK) {
        fprintf(stderr, "exec_server: reactor_new: %s\n", marline_strerror(s));
        return 1;
    }
    memset(&proto, 0, sizeof proto);
    proto.connection_made = on_made;
    proto.data_received = on_data;
    proto.read_connection_lost = on_read_lost; /* opts into half-close */
    proto.connection_lost = on_lost;
    s = reactor_listen_tcp(reactor, "127.0.0.1", port, 0, &proto, NULL, &lp);
    if (s != MARLINE_OK) {
        fprintf(stderr, "exec_server: cannot listen on 127.0.0.1:%d: %s\n", port, marline_strerror(s));
        reactor_free(reactor);
        return 1;
    }
    listening_port_get_port(lp, &bound);
    printf("listening on 127.0.0.1:%d\n", bound);
    fflush(stdout);
    s = reactor_run(reactor);
    reactor_free(reactor);
    return s == MARLINE_OK ? 0 : 1;
}
