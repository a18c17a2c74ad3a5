/* exec_server [--grace SECONDS] [--half-close] [PORT] -- COMMAND [ARGS...]
 *
 * Listens on 127.0.0.1:PORT (0 or absent: a free port) and prints
 * "listening on 127.0.0.1:PORT" as its first line. Like inetd, each
 * connection runs COMMAND bridged to it, in a session of its own: what the
 * client sends is the command's stdin, the command's stdout and stderr go
 * to the client, and when both have closed the server half-closes toward
 * the client. The exit status ("exit-status N" or "exit-signal NAME") goes
 * to the server's stderr; then the connection is closed.
 *
 * A client that goes away, with FIN or RST, ends its command: the command's
 * process group gets SIGHUP at once and, if it is still running SECONDS
 * later (--grace, default 5; "inf": never), SIGKILL. So a session lasts at
 * most SECONDS after its client has gone.
 *
 * With --half-close the client's FIN only closes the command's stdin, and
 * its output still goes to the client (for `printf ... | nc -N` and a
 * command that answers after EOF, such as sort or wc). TCP cannot tell that
 * FIN from a client that has gone for good: in this mode a client that
 * closed with FIN is only noticed when the command writes to it (its RST),
 * or when the command exits.
 *
 * Usage errors print a message and exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marline.h"

static char **command; /* NULL-terminated, points into argv */
static double grace = -1; /* --grace: seconds from SIGHUP to SIGKILL; < 0: the bridge's default */

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
    MARLINE_INIT(&cb);
    cb.exit_status = on_exit_status;
    cb.exit_signal = on_exit_signal;
    s = process_bridge(t, true, &cb, NULL, &b);
    if (s == MARLINE_OK && grace >= 0) {
        s = process_bridge_set_hangup_grace(b, grace);
    }
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

/* Seconds >= 0, or "inf"; -1 for anything else. */
static double parse_seconds(const char *text) {
    char *end = NULL;
    double v = strtod(text, &end);
    return (*text != '\0' && *end == '\0' && v >= 0) ? v : -1;
}

static int usage(void) {
    fprintf(stderr, "usage: exec_server [--grace SECONDS] [--half-close] [PORT] -- COMMAND [ARGS...]\n"
                    "  PORT 0-65535 (0 picks a free port); when a client goes, its command gets SIGHUP,\n"
                    "  then SIGKILL after --grace SECONDS (default 5, \"inf\": never).\n");
    return 2;
}

int main(int argc, char **argv) {
    int port = 0, half_close = 0, i;
    reactor_t *reactor = NULL;
    listening_port_t *lp = NULL;
    marline_protocol_t proto;
    marline_status_t s;
    int bound = 0;

    for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc) {
            if ((grace = parse_seconds(argv[++i])) < 0) {
                return usage();
            }
        } else if (strcmp(argv[i], "--half-close") == 0) {
            half_close = 1;
        } else if ((port = parse_port(argv[i])) < 0) {
            return usage();
        }
    }
    if (i + 1 >= argc) {
        return usage();
    }
    command = argv + i + 1;

    s = reactor_new(&reactor);
    if (s != MARLINE_OK) {
        fprintf(stderr, "exec_server: reactor_new: %s\n", marline_strerror(s));
        return 1;
    }
    MARLINE_INIT(&proto);
    proto.connection_made = on_made;
    proto.data_received = on_data;
    if (half_close) {
        proto.read_connection_lost = on_read_lost; /* FIN: the command's stdin ends */
    }
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
