/*
 * telnet_server [--bind ADDRESS [--allow-remote]] [PORT] -- COMMAND [ARGS...]
 *
 * A small telnetd: listens on 127.0.0.1:PORT (0 or absent: a free port), prints
 * "listening on ADDRESS:PORT" as its first line (flushed), and for each connection:
 *   - offers WILL ECHO and WILL SGA and asks DO NAWS;
 *   - runs COMMAND on a pty; what the client types goes to the pty (whose line
 *     discipline echoes it, since we do the echoing), what the command writes goes to the
 *     client (escaped by the telnet transport);
 *   - passes the client's window-size changes (NAWS) to the pty;
 *   - closes the connection when the command exits, and hangs the command up when the
 *     client goes.
 * There is NO authentication: binding anything but loopback needs --allow-remote and
 * prints a warning.
 *
 * The pty is run here with forkpty() and the marline loop is embedded in a poll() loop
 * (reactor_backend_fd / reactor_next_timeout). The session_* functions are the seam where
 * marline's process bridge (process layer, in progress) replaces this code: session_start
 * = spawn with a pty through the bridge, session_input = feed the bridge, session_resize =
 * set the process's window size, session_end = close the bridge.
 */
#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "marline.h"

#define MAX_SESSIONS 64
#define PENDING_MAX 4096

typedef struct session {
    int used;
    transport_t *t; /* the telnet transport; NULL once connection_lost has run */
    int master;     /* pty master, -1 once closed */
    pid_t pid;
    unsigned char pending[PENDING_MAX]; /* typed bytes the pty has not taken yet */
    size_t pending_len;
    int reading_paused;
} session;

static session sessions[MAX_SESSIONS];
static char **command;

/* ----- the pty side (the seam for the process bridge) ----- */

static int session_start(session *s) {
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    ws.ws_row = 24;
    ws.ws_col = 80;
    s->pid = forkpty(&s->master, NULL, NULL, &ws);
    if (s->pid < 0) {
        return -1;
    }
    if (s->pid == 0) {
        execvp(command[0], command);
        fprintf(stderr, "telnet_server: cannot run %s: %s\r\n", command[0], strerror(errno));
        _exit(127);
    }
    fcntl(s->master, F_SETFL, fcntl(s->master, F_GETFL) | O_NONBLOCK);
    return 0;
}

static void session_resize(session *s, unsigned rows, unsigned cols) {
    struct winsize ws;
    if (s->master < 0) {
        return;
    }
    memset(&ws, 0, sizeof ws);
    ws.ws_row = (unsigned short)rows;
    ws.ws_col = (unsigned short)cols;
    ioctl(s->master, TIOCSWINSZ, &ws); /* the kernel sends SIGWINCH to the command */
}

/* Writes what can be written; keeps the rest (bounded) and stops reading from the client
 * while anything is left, so nothing buffers without a bound. */
static void session_flush(session *s) {
    while (s->pending_len > 0 && s->master >= 0) {
        ssize_t n = write(s->master, s->pending, s->pending_len);
        if (n <= 0) {
            break;
        }
        memmove(s->pending, s->pending + n, s->pending_len - (size_t)n);
        s->pending_len -= (size_t)n;
    }
    if (s->pending_len == 0 && s->reading_paused && s->t != NULL) {
        s->reading_paused = 0;
        transport_resume_producing(s->t);
    }
}

static void session_input(session *s, const uint8_t *data, size_t len) {
    if (s->master < 0) {
        return;
    }
    if (s->pending_len + len > PENDING_MAX) {
        len = PENDING_MAX - s->pending_len; /* cannot happen while paused; defensive */
    }
    memcpy(s->pending + s->pending_len, data, len);
    s->pending_len += len;
    session_flush(s);
    if (s->pending_len > 0 && !s->reading_paused && s->t != NULL) {
        s->reading_paused = 1;
        transport_pause_producing(s->t);
    }
}

static void session_end(session *s) {
    if (s->master >= 0) {
        close(s->master);
        s->master = -1;
    }
    if (s->pid > 0) {
        kill(s->pid, SIGHUP);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

/* ----- the telnet side ----- */

static void on_made(transport_t *t, void *user) {
    session *s = NULL;
    int i;
    (void)user;
    for (i = 0; i < MAX_SESSIONS; i++) {
        if (!sessions[i].used) {
            s = &sessions[i];
            break;
        }
    }
    if (s == NULL) {
        static const char busy[] = "too many sessions\n";
        transport_write(t, (const uint8_t *)busy, sizeof busy - 1);
        transport_lose_connection(t);
        return;
    }
    memset(s, 0, sizeof *s);
    s->used = 1;
    s->t = t;
    s->master = -1;
    transport_set_user(t, s);
    transport_set_tcp_nodelay(t, true); /* not a telnet call: fails harmlessly */
    telnet_set_negotiation_timeout(t, 10.0);
    telnet_will(t, TELNET_OPT_ECHO, NULL, NULL);
    telnet_will(t, TELNET_OPT_SGA, NULL, NULL);
    telnet_do(t, TELNET_OPT_NAWS, NULL, NULL);
    if (session_start(s) != 0) {
        static const char fail[] = "cannot start the command\n";
        transport_write(t, (const uint8_t *)fail, sizeof fail - 1);
        transport_lose_connection(t);
    }
}

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
    session *s = (session *)user;
    (void)t;
    /* Interrupt process: send the pty's interrupt character. */
    if (s != NULL && command_byte == TELNET_CMD_IP) {
        static const uint8_t ctrl_c = 3;
        session_input(s, &ctrl_c, 1);
    }
}

static void on_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    session *s = (session *)user;
    (void)t;
    (void)reason;
    if (s != NULL) {
        s->t = NULL;
        session_end(s);
        s->used = 0;
    }
}

/* Copies what the command wrote to the client; ends the connection when it exits. */
static void pump_output(session *s) {
    uint8_t buf[4096];
    for (;;) {
        ssize_t n = read(s->master, buf, sizeof buf);
        if (n > 0) {
            if (s->t != NULL) {
                transport_write(s->t, buf, (size_t)n);
            }
            if ((size_t)n < sizeof buf) {
                return;
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        /* EOF or EIO: the command has exited (or closed the terminal). */
        close(s->master);
        s->master = -1;
        if (s->pid > 0) {
            waitpid(s->pid, NULL, 0);
            s->pid = 0;
        }
        if (s->t != NULL) {
            transport_lose_connection(s->t);
        }
        return;
    }
}

static int is_loopback(const char *address) {
    return strncmp(address, "127.", 4) == 0 || strcmp(address, "::1") == 0 || strcmp(address, "localhost") == 0;
}

static void usage(void) {
    fprintf(stderr, "usage: telnet_server [--bind ADDRESS [--allow-remote]] [PORT] -- COMMAND [ARGS...]\n"
                    "  listens on 127.0.0.1 by default; PORT 0 or absent picks a free port.\n"
                    "  There is no authentication: a non-loopback ADDRESS needs --allow-remote.\n");
}

int main(int argc, char **argv) {
    const char *address = "127.0.0.1";
    int allow_remote = 0, port = 0, i, bound = 0;
    reactor_t *reactor = NULL;
    listening_port_t *lp = NULL;
    telnet_protocol_t proto;
    marline_status_t st;
    int backend = -1;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            break;
        } else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) {
            address = argv[++i];
        } else if (strcmp(argv[i], "--allow-remote") == 0) {
            allow_remote = 1;
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
    if (!is_loopback(address)) {
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
    memset(&proto, 0, sizeof proto);
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
    reactor_backend_fd(reactor, &backend);

    for (;;) {
        struct pollfd fds[MAX_SESSIONS + 1];
        session *owner[MAX_SESSIONS + 1];
        nfds_t n = 0;
        double wait_s = -1;
        int timeout_ms;

        fds[n].fd = backend;
        fds[n].events = POLLIN;
        owner[n++] = NULL;
        for (i = 0; i < MAX_SESSIONS; i++) {
            if (sessions[i].used && sessions[i].master >= 0) {
                fds[n].fd = sessions[i].master;
                fds[n].events = (short)(POLLIN | (sessions[i].pending_len > 0 ? POLLOUT : 0));
                owner[n++] = &sessions[i];
            }
        }
        reactor_next_timeout(reactor, &wait_s);
        timeout_ms = wait_s < 0 ? -1 : (int)(wait_s * 1000.0) + 1;
        if (poll(fds, n, timeout_ms) < 0 && errno != EINTR) {
            perror("telnet_server: poll");
            break;
        }
        for (i = 1; i < (int)n; i++) {
            session *s = owner[i];
            if (!s->used || s->master != fds[i].fd) {
                continue;
            }
            if (fds[i].revents & POLLOUT) {
                session_flush(s);
            }
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                pump_output(s);
            }
        }
        st = reactor_run_once(reactor, 0);
        if (st != MARLINE_OK) {
            fprintf(stderr, "telnet_server: %s\n", marline_strerror(st));
            break;
        }
    }
    reactor_free(reactor);
    return 1;
}
