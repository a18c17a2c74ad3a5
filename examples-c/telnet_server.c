/*
 * telnet_server [--bind ADDRESS [--allow-remote]] [--grace SECONDS] [PORT] -- COMMAND [ARGS...]
 *
 * A small telnetd: listens on 127.0.0.1:PORT (0 or absent: a free port), prints
 * "listening on ADDRESS:PORT" as its first line (flushed), and for each connection:
 *   - offers WILL ECHO and WILL SGA and asks DO NAWS;
 *   - runs COMMAND on a pty through marline's process bridge (process_bridge): what the
 *     client types is fed to the pty (whose line discipline echoes it, since we do the
 *     echoing), what the command writes goes to the client (the telnet transport escapes
 *     IAC and turns newlines into CR LF);
 *   - starts the command once the client's window size is known (the first NAWS report,
 *     set on the pty before the command runs), or with 80x24 when the client refuses NAWS
 *     or has not reported a size within STARTUP_WAIT seconds; later NAWS reports go to the
 *     pty with process_set_window_size (the command gets SIGWINCH);
 *   - closes the connection when the command exits (the bridge does that), and hangs the
 *     command up when the client goes, with FIN or RST: closing the bridge closes the pty
 *     (a terminal hang-up) and sends SIGHUP to the command's process group, then SIGKILL
 *     if it is still running SECONDS later (--grace, default 5; "inf": never). So a
 *     session lasts at most SECONDS after its client has gone.
 * Everything runs in plain reactor_run. Input is bounded: before the command starts at
 * most EARLY_MAX typed bytes are held (more starts it at once); after that the bridge
 * stops reading from the client while the pty is not taking what was typed.
 * There is NO authentication: binding anything but loopback needs --allow-remote and
 * prints a warning. ADDRESS may be a name (localhost): it is resolved first, and the
 * loopback check and the first line use the address it resolves to.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "marline.h"

#define MAX_SESSIONS 64
#define EARLY_MAX 4096
#define STARTUP_WAIT 2.0
#define DEFAULT_ROWS 24
#define DEFAULT_COLS 80

typedef struct session {
    transport_t *t;          /* the telnet transport */
    bridge_t *bridge;        /* the command's bridge; NULL once closed */
    transport_t *process;    /* the command's process transport, once started */
    int started;             /* the start was attempted */
    delayed_call_t *startup; /* starts the command if no window size comes */
    size_t early;            /* bytes fed before the command started */
} session;

static reactor_t *reactor;
static char **command;
static int session_count;
static double grace = -1; /* --grace: seconds from SIGHUP to SIGKILL; < 0: the bridge's default */

/* ----- the command's side: the process bridge ----- */

static void on_exit_status(bridge_t *b, transport_t *remote, int32_t code, void *user) {
    (void)b;
    (void)remote;
    (void)user;
    fprintf(stderr, "telnet_server: %s: exit-status %d\n", command[0], (int)code);
}

static void on_exit_signal(bridge_t *b, transport_t *remote, const char *name, bool core, void *user) {
    (void)b;
    (void)remote;
    (void)user;
    fprintf(stderr, "telnet_server: %s: exit-signal %s%s\n", command[0], name, core ? " (core dumped)" : "");
}

/* Runs the command on a pty of rows x cols (0: the default), with what was typed so far. */
static void session_start(session *s, unsigned rows, unsigned cols) {
    marline_status_t st;
    if (s->started || s->bridge == NULL) {
        return;
    }
    s->started = 1;
    if (s->startup != NULL) {
        delayed_call_cancel(s->startup); /* NOT_ACTIVE when it is what called us: fine */
        s->startup = NULL;
    }
    st = process_bridge_spawn_pty(s->bridge, command[0], (const char *const *)command, NULL, NULL,
                                  (uint16_t)(rows ? rows : DEFAULT_ROWS), (uint16_t)(cols ? cols : DEFAULT_COLS),
                                  &s->process);
    if (st != MARLINE_OK) {
        static const char fail[] = "cannot start the command\n";
        fprintf(stderr, "telnet_server: cannot run %s: %s\n", command[0], marline_strerror(st));
        s->process = NULL;
        transport_write(s->t, (const uint8_t *)fail, sizeof fail - 1);
        transport_lose_connection(s->t);
    }
}

static void session_input(session *s, const uint8_t *data, size_t len) {
    if (s->bridge == NULL) {
        return;
    }
    if (!s->started) {
        if (s->early + len > EARLY_MAX) {
            session_start(s, 0, 0); /* typed ahead a lot: no more waiting for NAWS */
        } else {
            s->early += len; /* the bridge holds it until the command starts */
        }
    }
    process_bridge_feed(s->bridge, data, len);
}

static void session_resize(session *s, unsigned rows, unsigned cols) {
    if (!s->started) {
        session_start(s, rows, cols); /* the first report: the pty starts with it */
    } else if (s->process != NULL && rows > 0 && cols > 0) {
        process_set_window_size(s->process, (uint16_t)rows, (uint16_t)cols); /* SIGWINCH */
    }
}

/* The client is gone: closing the bridge closes the pty, which hangs the command up. */
static void session_end(session *s) {
    if (s->startup != NULL) {
        delayed_call_cancel(s->startup);
        s->startup = NULL;
    }
    if (s->bridge != NULL) {
        process_bridge_close(s->bridge);
        s->bridge = NULL;
    }
    s->process = NULL; /* the bridge's; stale once the command has ended */
}

/* ----- the telnet side ----- */

static void on_startup_wait(reactor_t *r, void *user) {
    session *s = (session *)user;
    (void)r;
    s->startup = NULL;
    session_start(s, 0, 0);
}

static void on_naws_answer(transport_t *t, uint8_t option, marline_telnet_result_t result,
                           const marline_reason_t *reason, void *user) {
    (void)t;
    (void)option;
    (void)reason;
    /* OK: the size follows in a subnegotiation (or STARTUP_WAIT runs out). */
    if (result == MARLINE_TELNET_OPTION_REFUSED || result == MARLINE_TELNET_TIMED_OUT) {
        session_start((session *)user, 0, 0);
    }
}

static void on_made(transport_t *t, void *user) {
    static const char busy[] = "too many sessions\n";
    static const char fail[] = "cannot start a session\n";
    marline_bridge_callbacks_t cb;
    transport_t *inner = NULL;
    session *s;
    (void)user;
    s = session_count < MAX_SESSIONS ? (session *)calloc(1, sizeof *s) : NULL;
    if (s == NULL) {
        transport_write(t, (const uint8_t *)busy, sizeof busy - 1);
        transport_lose_connection(t);
        return;
    }
    session_count++;
    s->t = t;
    transport_set_user(t, s);
    MARLINE_INIT(&cb);
    cb.exit_status = on_exit_status;
    cb.exit_signal = on_exit_signal;
    /* The telnet transport is the bridge's remote: the command's output is written to it
     * (escaped), and the bridge closes it when the command has ended. */
    if (process_bridge(t, true, &cb, NULL, &s->bridge) != MARLINE_OK) {
        s->bridge = NULL;
        transport_write(t, (const uint8_t *)fail, sizeof fail - 1);
        transport_lose_connection(t);
        return;
    }
    if (grace >= 0) {
        process_bridge_set_hangup_grace(s->bridge, grace); /* checked when it was parsed */
    }
    if (telnet_get_inner(t, &inner) == MARLINE_OK) {
        transport_set_tcp_nodelay(inner, true);
    }
    telnet_set_negotiation_timeout(t, 10.0);
    telnet_will(t, TELNET_OPT_ECHO, NULL, NULL);
    telnet_will(t, TELNET_OPT_SGA, NULL, NULL);
    if (telnet_do(t, TELNET_OPT_NAWS, on_naws_answer, s) != MARLINE_OK ||
        reactor_call_later(reactor, STARTUP_WAIT, on_startup_wait, s, &s->startup) != MARLINE_OK) {
        session_start(s, 0, 0);
    }
}

/* user is NULL on a connection turned away in on_made. */
static void on_data(transport_t *t, const uint8_t *data, size_t len, void *user) {
    (void)t;
    if (user != NULL) {
        session_input((session *)user, data, len);
    }
}

static void on_window(transport_t *t, uint16_t width, uint16_t height, void *user) {
    (void)t;
    if (user != NULL) {
        session_resize((session *)user, height, width);
    }
}

static bool on_enable_local(transport_t *t, uint8_t option, void *user) {
    (void)t;
    (void)user;
    return option == TELNET_OPT_ECHO || option == TELNET_OPT_SGA;
}

static bool on_enable_remote(transport_t *t, uint8_t option, void *user) {
    (void)t;
    (void)user;
    return option == TELNET_OPT_NAWS || option == TELNET_OPT_SGA;
}

static void on_command(transport_t *t, uint8_t command_byte, void *user) {
    (void)t;
    /* Interrupt process: send the pty's interrupt character. */
    if (user != NULL && command_byte == TELNET_CMD_IP) {
        static const uint8_t ctrl_c = 3;
        session_input((session *)user, &ctrl_c, 1);
    }
}

static void on_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    session *s = (session *)user;
    (void)t;
    (void)reason;
    if (s != NULL) {
        session_end(s);
        free(s);
        session_count--;
    }
}

/* Resolves ADDRESS (a name or a literal; "" is every IPv4 interface) to its first address,
 * written as a literal to numeric[size]. Returns 1 if it is a loopback address, 0 if not,
 * -1 (with a message) if it does not resolve. The loopback check is made on the address
 * the server will listen on, never on the name. */
static int resolve(const char *address, char *numeric, size_t size) {
    struct addrinfo hints, *res = NULL;
    int rc, loopback = 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(*address != '\0' ? address : "0.0.0.0", NULL, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "telnet_server: cannot resolve --bind %s: %s\n", address, gai_strerror(rc));
        return -1;
    }
    rc = getnameinfo(res->ai_addr, res->ai_addrlen, numeric, size, NULL, 0, NI_NUMERICHOST);
    if (res->ai_family == AF_INET) {
        loopback = (ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr) >> 24) == 127;
    } else if (res->ai_family == AF_INET6) {
        loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr);
    }
    freeaddrinfo(res);
    if (rc != 0) {
        fprintf(stderr, "telnet_server: cannot resolve --bind %s: %s\n", address, gai_strerror(rc));
        return -1;
    }
    return loopback;
}

static void usage(void) {
    fprintf(stderr, "usage: telnet_server [--bind ADDRESS [--allow-remote]] [--grace SECONDS] [PORT] -- COMMAND [ARGS...]\n"
                    "  listens on 127.0.0.1 by default; PORT 0 or absent picks a free port.\n"
                    "  ADDRESS is a name or a literal address.\n"
                    "  When a client goes, its command is hung up (SIGHUP), then killed after --grace\n"
                    "  SECONDS (default 5, \"inf\": never).\n"
                    "  There is no authentication: a non-loopback ADDRESS needs --allow-remote.\n");
}

int main(int argc, char **argv) {
    const char *address = "127.0.0.1";
    char numeric[NI_MAXHOST];
    int allow_remote = 0, port = 0, i, bound = 0, loopback;
    listening_port_t *lp = NULL;
    telnet_protocol_t proto;
    marline_status_t st;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            break;
        } else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) {
            address = argv[++i];
        } else if (strcmp(argv[i], "--allow-remote") == 0) {
            allow_remote = 1;
        } else if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc) {
            char *end = NULL;
            const char *text = argv[++i];
            grace = strtod(text, &end);
            if (*text == '\0' || *end != '\0' || !(grace >= 0)) {
                usage();
                return 2;
            }
        } else {
            char *end = NULL;
            long p = strtol(argv[i], &end, 10);
            if (*argv[i] == '\0' || *end != '\0' || p < 0 || p > 65535) {
                usage();
                return 2;
            }
            port = (int)p;
        }
    }
    if (i >= argc - 1) {
        usage();
        return 2;
    }
    command = &argv[i + 1];
    loopback = resolve(address, numeric, sizeof numeric);
    if (loopback < 0) {
        return 2;
    }
    address = numeric;
    if (!loopback) {
        if (!allow_remote) {
            fprintf(stderr, "telnet_server: refusing to listen on %s without --allow-remote "
                            "(this server has no authentication)\n", address);
            return 2;
        }
        fprintf(stderr, "telnet_server: WARNING: listening on %s with NO authentication: anyone who can "
                        "reach this port can run %s\n", address, command[0]);
    }
    signal(SIGPIPE, SIG_IGN);

    st = reactor_new(&reactor);
    if (st != MARLINE_OK) {
        fprintf(stderr, "telnet_server: reactor_new: %s\n", marline_strerror(st));
        return 1;
    }
    MARLINE_INIT(&proto);
    proto.connection_made = on_made;
    proto.data_received = on_data;
    proto.connection_lost = on_lost;
    proto.window_size = on_window;
    proto.enable_local = on_enable_local;
    proto.enable_remote = on_enable_remote;
    proto.unhandled_command = on_command;
    st = reactor_listen_telnet(reactor, address, port, 0, &proto, NULL, &lp);
    if (st != MARLINE_OK) {
        fprintf(stderr, "telnet_server: cannot listen on %s:%d: %s\n", address, port, marline_strerror(st));
        reactor_free(reactor);
        return 1;
    }
    listening_port_get_port(lp, &bound);
    printf("listening on %s:%d\n", address, bound);
    fflush(stdout);
    st = reactor_run(reactor);
    if (st != MARLINE_OK) {
        fprintf(stderr, "telnet_server: %s\n", marline_strerror(st));
    }
    reactor_free(reactor);
    return 1; /* reactor_run returns only if something went wrong */
}
