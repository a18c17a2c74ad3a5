/* C tests of bridge_t: a process bridged to a TCP connection (SSH-session
 * semantics): relay, EOF after stdout and stderr close, exit-status,
 * exit-signal, data buffered before the process starts, the child's own
 * session, and its hang-up when the client resets. One line per check;
 * exits non-zero if any check failed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marline.h"

#include "check.h"

#define check(ok, what) CHECK(ok, what)

/* The session under test (one at a time). */
static struct {
    const char *script;
    int start_on_eof;
    int pty_rows, pty_cols; /* non-zero: process_bridge_spawn_pty */
    double grace;           /* non-zero: process_bridge_set_hangup_grace */
    int abort_on_ready;     /* the client resets once it has read "ready\n" */
    int check_arguments;    /* check the bridge calls' argument errors in srv_made */
    bridge_t *bridge;
    int spawn_status;
    int exit_status; /* -1 unknown */
    char exit_signal[32];
    int core;
    int bridge_ended;
    char ext[256];
    size_t ext_len;
    /* client side */
    char got[1024];
    size_t got_len;
    int got_eof;
    size_t data_at_eof;
    int client_lost;
} S;

static void reset(const char *script, int start_on_eof) {
    memset(&S, 0, sizeof S);
    S.script = script;
    S.start_on_eof = start_on_eof;
    S.exit_status = -1;
}

static void b_ext(bridge_t *b, transport_t *remote, const uint8_t *data, size_t len, void *user) {
    (void)b;
    (void)remote;
    (void)user;
    if (S.ext_len + len <= sizeof S.ext) {
        memcpy(S.ext + S.ext_len, data, len);
        S.ext_len += len;
    }
}

static void b_status(bridge_t *b, transport_t *remote, int32_t code, void *user) {
    (void)b;
    (void)remote;
    (void)user;
    S.exit_status = code;
}

static void b_signal(bridge_t *b, transport_t *remote, const char *name, bool core, void *user) {
    (void)b;
    (void)remote;
    (void)user;
    snprintf(S.exit_signal, sizeof S.exit_signal, "%s", name);
    S.core = core;
}

static void b_ended(bridge_t *b, transport_t *remote, const marline_reason_t *reason, void *user) {
    (void)b;
    (void)remote;
    (void)reason;
    (void)user;
    S.bridge_ended = 1;
}

static void spawn_now(bridge_t *b) {
    const char *argv[] = {"sh", "-c", S.script, NULL};
    if (S.pty_rows != 0) {
        S.spawn_status = process_bridge_spawn_pty(b, "/bin/sh", argv, NULL, NULL, (uint16_t)S.pty_rows, (uint16_t)S.pty_cols, NULL);
    } else {
        S.spawn_status = process_bridge_spawn(b, "/bin/sh", argv, NULL, NULL, false, NULL);
    }
}

static void srv_made(transport_t *t, void *user) {
    marline_bridge_callbacks_t cb;
    (void)user;
    MARLINE_INIT(&cb);
    cb.extended_data = b_ext;
    cb.exit_status = b_status;
    cb.exit_signal = b_signal;
    cb.process_ended = b_ended;
    if (process_bridge(t, false, &cb, NULL, &S.bridge) != MARLINE_OK) {
        S.spawn_status = -1;
        return;
    }
    if (S.grace != 0) {
        process_bridge_set_hangup_grace(S.bridge, S.grace);
    }
    if (S.check_arguments) {
        const char *argv[] = {"true", NULL};
        marline_child_fd_t map[1] = {{1, MARLINE_CHILD_FD_FROM_CHILD, -1}};
        marline_spawn_options_t o;
        MARLINE_INIT(&o);
        o.fd_map = map;
        o.fd_map_len = 1;
        check(process_bridge_set_hangup_grace(S.bridge, NAN) == MARLINE_ERR_INVALID_ARGUMENT, "set_hangup_grace(NaN): INVALID_ARGUMENT");
        check(process_bridge_set_hangup_grace(S.bridge, -1.0) == MARLINE_ERR_INVALID_ARGUMENT, "set_hangup_grace(-1): INVALID_ARGUMENT");
        check(process_bridge_set_hangup_grace(S.bridge, 0.0) == MARLINE_OK, "set_hangup_grace(0): OK");
        check(process_bridge_set_hangup_grace(NULL, 1.0) == MARLINE_ERR_NULL_POINTER, "set_hangup_grace(NULL): NULL_POINTER");
        check(process_bridge_spawn_with(S.bridge, "true", argv, &o, NULL) == MARLINE_ERR_BAD_CHILD_FD_MAP, "a bridge takes no fd map: BAD_CHILD_FD_MAP");
    }
    /* Each connection keeps its own bridge: a late connection_lost of an
     * earlier session must not close the current one. */
    transport_set_user(t, S.bridge);
    if (!S.start_on_eof) {
        spawn_now(S.bridge);
    }
}

static void srv_data(transport_t *t, const uint8_t *data, size_t len, void *user) {
    (void)t;
    process_bridge_feed((bridge_t *)user, data, len);
}

static void srv_read_lost(transport_t *t, void *user) {
    (void)t;
    process_bridge_remote_eof((bridge_t *)user);
    if (S.start_on_eof) {
        spawn_now((bridge_t *)user);
    }
}

static void srv_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    (void)reason;
    process_bridge_close((bridge_t *)user);
}

static const char *client_input;

static void cli_made(transport_t *t, void *user) {
    (void)user;
    if (S.abort_on_ready) {
        return;
    }
    transport_write(t, (const uint8_t *)client_input, strlen(client_input));
    transport_lose_write_connection(t);
}

static void cli_data(transport_t *t, const uint8_t *data, size_t len, void *user) {
    (void)t;
    (void)user;
    if (S.got_len + len <= sizeof S.got) {
        memcpy(S.got + S.got_len, data, len);
        S.got_len += len;
    }
    if (S.abort_on_ready && S.got_len == 6 && memcmp(S.got, "ready\n", 6) == 0) {
        transport_abort_connection(t); /* RST */
    }
}

static void cli_read_lost(transport_t *t, void *user) {
    (void)t;
    (void)user;
    S.got_eof = 1;
    S.data_at_eof = S.got_len;
}

static void cli_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    (void)t;
    (void)reason;
    (void)user;
    S.client_lost = 1;
}

static void session(reactor_t *reactor, int port, const char *input) {
    marline_protocol_t cli;
    transport_t *t = NULL;
    int i;
    client_input = input;
    MARLINE_INIT(&cli);
    cli.connection_made = cli_made;
    cli.data_received = cli_data;
    cli.read_connection_lost = cli_read_lost;
    cli.connection_lost = cli_lost;
    if (reactor_connect_tcp(reactor, "127.0.0.1", port, 5.0, &cli, NULL, &t) != MARLINE_OK) {
        check(0, "connect");
        return;
    }
    for (i = 0; i < 1000 && !(S.client_lost && S.bridge_ended); i++) {
        reactor_run_once(reactor, 0.02);
    }
}

int main(void) {
    reactor_t *reactor = NULL;
    listening_port_t *lp = NULL;
    marline_protocol_t srv;
    int port = 0;

    check(reactor_new(&reactor) == MARLINE_OK, "reactor_new");
    MARLINE_INIT(&srv);
    srv.connection_made = srv_made;
    srv.data_received = srv_data;
    srv.read_connection_lost = srv_read_lost;
    srv.connection_lost = srv_lost;
    check(reactor_listen_tcp(reactor, "127.0.0.1", 0, 0, &srv, NULL, &lp) == MARLINE_OK, "listen");
    listening_port_get_port(lp, &port);

    reset("cat", 0);
    S.check_arguments = 1;
    session(reactor, port, "relay me\n");
    check(S.spawn_status == MARLINE_OK, "bridge spawned cat");
    check(S.got_len == 9 && memcmp(S.got, "relay me\n", 9) == 0, "stdin and stdout relayed");
    check(S.got_eof && S.client_lost, "client got EOF, then the connection closed");
    check(S.exit_status == 0 && S.exit_signal[0] == '\0', "exit-status 0");

    reset("cat", 1);
    session(reactor, port, "sent before the process started\n");
    check(S.got_len == 32 && memcmp(S.got, "sent before the process started\n", 32) == 0, "data from before the start was buffered");

    reset("exec 1>&-; sleep 0.2; echo late-err >&2; exit 3", 0);
    session(reactor, port, "");
    check(S.got_eof && S.data_at_eof == 0, "EOF reached the client");
    check(S.ext_len == 9 && memcmp(S.ext, "late-err\n", 9) == 0, "stderr went to extended_data");
    check(S.exit_status == 3, "exit-status 3");

    reset("kill -TERM $$", 0);
    session(reactor, port, "");
    check(strcmp(S.exit_signal, "TERM") == 0 && !S.core && S.exit_status == -1, "exit-signal TERM without core, no exit-status");

    reset("ulimit -c 0; kill -SEGV $$", 0);
    session(reactor, port, "");
    check(strcmp(S.exit_signal, "SEGV") == 0 && !S.core, "exit-signal SEGV, core limit 0: no core");

    reset("stty size", 0);
    S.pty_rows = 27;
    S.pty_cols = 91;
    session(reactor, port, "");
    check(S.spawn_status == MARLINE_OK, "process_bridge_spawn_pty");
    check(S.got_len == 7 && memcmp(S.got, "27 91\r\n", 7) == 0, "the pty had its size before the command started");
    check(S.got_eof && S.client_lost && S.exit_status == 0, "pty session: EOF, close, exit-status 0");

    /* The bridged child runs in a session of its own (pipes too). */
    reset("cat /proc/$$/stat", 0);
    session(reactor, port, "");
    {
        long pid = atol(S.got), group = -1, sid = -1;
        const char *at = strrchr(S.got, ')');
        if (at != NULL) {
            sscanf(at + 1, " %*c %*d %ld %ld", &group, &sid);
        }
        check(pid > 1 && group == pid && sid == pid, "a bridged child leads its own session and group");
    }

    /* The client resets: a child that ignores SIGHUP gets SIGKILL after the grace. */
    reset("trap '' HUP; echo ready; exec sleep 100", 0);
    S.abort_on_ready = 1;
    S.grace = 0.3;
    session(reactor, port, "");
    check(S.bridge_ended && strcmp(S.exit_signal, "KILL") == 0, "client reset, SIGHUP ignored: SIGKILL after the grace");
    reset("echo ready; exec sleep 100", 0);
    S.abort_on_ready = 1;
    S.grace = INFINITY;
    session(reactor, port, "");
    check(S.bridge_ended && strcmp(S.exit_signal, "HUP") == 0, "client reset: the child's group gets SIGHUP");
    check(process_bridge_set_hangup_grace(S.bridge, 1.0) == MARLINE_ERR_STALE_HANDLE, "set_hangup_grace on a closed bridge: STALE_HANDLE");

    process_bridge_close(S.bridge); /* fine whether or not srv_lost closed it already */
    check(process_bridge_close(S.bridge) == MARLINE_ERR_STALE_HANDLE, "a closed bridge handle is stale");
    check(reactor_free(reactor) == MARLINE_OK, "reactor_free");
    return check_summary();
}
