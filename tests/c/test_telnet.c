/*
 * test_telnet: the telnet C API over loopback TCP.
 *
 * A marline telnet server and a marline telnet client negotiate ECHO, SGA and NAWS, pass
 * data (escaped and newline-translated), commands and window sizes; immediate failures
 * come back as status codes without a completion; a silent raw socket peer gives
 * TIMED_OUT and CONNECTION_LOST completions; an oversized subnegotiation drops the
 * connection with MARLINE_REASON_PROTOCOL_VIOLATION; handles go stale after
 * connection_lost. The enable_remote hook is also called when the client's own DO is
 * accepted, right after its completion (Twisted's will_no_true).
 *
 * One line per check ("ok - ..." or "FAIL - ..."); exit status 0 only if all pass.
 * Built as C99 and as C++ and run natively, under ASan+UBSan and under valgrind by
 * tests/c_telnet.rs.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "marline.h"

#include "check.h"

#define check(ok, what) CHECK(ok, what)

/* ----- shared state ----- */

typedef struct side_state {
    int made;
    int lost;
    int lost_kind;
    char lost_message[256];
    unsigned char data[256];
    size_t data_len;
    int commands[8];
    int command_count;
    int width, height;
    transport_t *t;
} side_state;

typedef struct completion {
    int calls;
    marline_telnet_result_t result;
    int had_reason;
    int option;
    int seq; /* when it fired, in the order of `seq` below */
} completion;

/* Counts completions and hook calls, to check their order. */
static int seq;
static int cli_sga_hook_seq;

static void on_done(transport_t *t, uint8_t option, marline_telnet_result_t result, const marline_reason_t *reason,
                    void *user) {
    completion *c = (completion *)user;
    (void)t;
    c->calls++;
    c->result = result;
    c->had_reason = reason != NULL;
    c->option = option;
    c->seq = ++seq;
}

static completion srv_echo, srv_naws, cli_sga, cli_never;

static void on_made(transport_t *t, void *user) {
    side_state *s = (side_state *)user;
    s->made = 1;
    s->t = t;
}

static void srv_made(transport_t *t, void *user) {
    on_made(t, user);
    telnet_set_max_subnegotiation(t, 8);
    telnet_will(t, TELNET_OPT_ECHO, on_done, &srv_echo);
    telnet_do(t, TELNET_OPT_NAWS, on_done, &srv_naws);
}

static void on_data(transport_t *t, const uint8_t *data, size_t len, void *user) {
    side_state *s = (side_state *)user;
    (void)t;
    if (s->data_len + len <= sizeof s->data) {
        memcpy(s->data + s->data_len, data, len);
        s->data_len += len;
    }
}

static void on_lost(transport_t *t, const marline_reason_t *reason, void *user) {
    side_state *s = (side_state *)user;
    (void)t;
    s->lost++;
    s->lost_kind = (int)marline_reason_kind(reason);
    snprintf(s->lost_message, sizeof s->lost_message, "%s", marline_reason_message(reason));
}

static void on_failed(transport_t *t, const marline_reason_t *reason, void *user) {
    on_lost(t, reason, user);
}

static void on_command(transport_t *t, uint8_t command, void *user) {
    side_state *s = (side_state *)user;
    (void)t;
    if (s->command_count < 8) {
        s->commands[s->command_count++] = command;
    }
}

static void on_window(transport_t *t, uint16_t w, uint16_t h, void *user) {
    side_state *s = (side_state *)user;
    (void)t;
    s->width = w;
    s->height = h;
}

static bool srv_enable_local(transport_t *t, uint8_t option, void *user) {
    (void)t;
    (void)user;
    return option == TELNET_OPT_SGA;
}

static bool cli_enable_remote(transport_t *t, uint8_t option, void *user) {
    (void)t;
    (void)user;
    if (option == TELNET_OPT_SGA) {
        cli_sga_hook_seq = ++seq; /* our own DO SGA was accepted; the answer is ignored */
    }
    return option == TELNET_OPT_ECHO;
}

static bool cli_enable_local(transport_t *t, uint8_t option, void *user) {
    (void)t;
    (void)user;
    return option == TELNET_OPT_NAWS;
}

static reactor_t *reactor;

/* Runs the loop until *flag is non-zero or about 5 s pass. */
static int run_until(const int *flag) {
    int i;
    for (i = 0; i < 500 && !*flag; i++) {
        reactor_run_once(reactor, 0.01);
    }
    return *flag != 0;
}

static int both(const int *a, const int *b) {
    int i;
    for (i = 0; i < 500 && !(*a && *b); i++) {
        reactor_run_once(reactor, 0.01);
    }
    return *a && *b;
}

/* A plain socket listening on 127.0.0.1; returns its fd and port. */
static int raw_listener(int *port) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int main(void) {
    side_state srv, cli, raw_cli;
    telnet_protocol_t sp, cp, rp;
    listening_port_t *lp = NULL;
    transport_t *client = NULL, *inner = NULL, *rawc = NULL;
    marline_telnet_option_state_t st;
    bool on = false;
    int port = 0, lfd, afd, rport = 0, i;
    unsigned char big[9];
    completion bad = {0, MARLINE_TELNET_OK, 0, 0, 0};

    memset(&srv, 0, sizeof srv);
    memset(&cli, 0, sizeof cli);
    memset(&raw_cli, 0, sizeof raw_cli);
    MARLINE_INIT(&sp);
    MARLINE_INIT(&cp);
    MARLINE_INIT(&rp);

    check(reactor_new(&reactor) == MARLINE_OK, "reactor_new");

    sp.connection_made = srv_made;
    sp.data_received = on_data;
    sp.connection_lost = on_lost;
    sp.enable_local = srv_enable_local;
    sp.unhandled_command = on_command;
    sp.window_size = on_window;
    check(reactor_listen_telnet(reactor, "127.0.0.1", 0, 0, &sp, &srv, &lp) == MARLINE_OK, "reactor_listen_telnet");
    check(listening_port_get_port(lp, &port) == MARLINE_OK && port > 0, "listening port has a real port");

    cp.connection_made = on_made;
    cp.data_received = on_data;
    cp.connection_lost = on_lost;
    cp.connection_failed = on_failed;
    cp.enable_remote = cli_enable_remote;
    cp.enable_local = cli_enable_local;
    check(reactor_connect_telnet(reactor, "127.0.0.1", port, 5.0, &cp, &cli, &client) == MARLINE_OK,
          "reactor_connect_telnet");

    /* Immediate failures: a status code, and the callback is never called. */
    check(telnet_wont(client, TELNET_OPT_ECHO, on_done, &bad) == MARLINE_ERR_ALREADY_DISABLED,
          "telnet_wont on a disabled option fails with ALREADY_DISABLED");
    check(telnet_do(client, TELNET_OPT_SGA, on_done, &cli_sga) == MARLINE_OK, "telnet_do SGA before connecting");
    check(telnet_do(client, TELNET_OPT_SGA, on_done, &bad) == MARLINE_ERR_ALREADY_NEGOTIATING,
          "a second telnet_do SGA fails with ALREADY_NEGOTIATING");
    check(telnet_will(NULL, TELNET_OPT_ECHO, on_done, &bad) == MARLINE_ERR_NULL_POINTER, "NULL handle is an error");
    check(telnet_get_option_state(client, TELNET_OPT_SGA, 7, &st) == MARLINE_ERR_INVALID_ARGUMENT,
          "a bad side number is an error");
    check(telnet_set_policy(client, TELNET_OPT_SGA, MARLINE_TELNET_LOCAL, 9) == MARLINE_ERR_INVALID_ARGUMENT,
          "a bad policy number is an error");
    check(telnet_send_command(client, TELNET_CMD_WILL) == MARLINE_ERR_INVALID_ARGUMENT,
          "telnet_send_command refuses negotiation verbs");

    check(both(&srv.made, &cli.made), "both sides connected");
    check(run_until(&srv_echo.calls) && srv_echo.result == MARLINE_TELNET_OK, "server WILL ECHO agreed");
    check(run_until(&srv_naws.calls) && srv_naws.result == MARLINE_TELNET_OK, "server DO NAWS agreed");
    check(run_until(&cli_sga.calls) && cli_sga.result == MARLINE_TELNET_OK && cli_sga.option == TELNET_OPT_SGA,
          "client DO SGA agreed by the server's enable_local");
    check(run_until(&cli_sga_hook_seq) && cli_sga_hook_seq == cli_sga.seq + 1,
          "the client's enable_remote is called for its own accepted DO SGA, right after the completion");
    check(telnet_get_option_state(client, TELNET_OPT_ECHO, MARLINE_TELNET_REMOTE, &st) == MARLINE_OK &&
              st == MARLINE_TELNET_YES,
          "client sees the server's ECHO as YES");
    check(telnet_is_enabled(client, TELNET_OPT_NAWS, MARLINE_TELNET_LOCAL, &on) == MARLINE_OK && on,
          "client's NAWS is enabled");
    check(telnet_will(client, TELNET_OPT_NAWS, on_done, &bad) == MARLINE_ERR_ALREADY_ENABLED,
          "telnet_will on an enabled option fails with ALREADY_ENABLED");

    check(telnet_send_window_size(client, 120, 50) == MARLINE_OK, "telnet_send_window_size");
    check(run_until(&srv.width) && srv.width == 120 && srv.height == 50, "server's window_size got 120x50");

    check(transport_write(client, (const uint8_t *)"a\xff" "b\n", 4) == MARLINE_OK, "transport_write through telnet");
    for (i = 0; i < 300 && srv.data_len < 4; i++) {
        reactor_run_once(reactor, 0.01);
    }
    check(srv.data_len == 4 && memcmp(srv.data, "a\xff" "b\n", 4) == 0, "data arrives unescaped (0xFF, LF)");

    check(telnet_send_command(client, TELNET_CMD_AYT) == MARLINE_OK, "telnet_send_command AYT");
    check(run_until(&srv.command_count) && srv.commands[0] == TELNET_CMD_AYT, "server's unhandled_command got AYT");
    check(telnet_send_synch(client) == MARLINE_OK, "telnet_send_synch");

    check(telnet_get_inner(client, &inner) == MARLINE_OK && inner != NULL, "telnet_get_inner");
    check(telnet_will(inner, TELNET_OPT_ECHO, on_done, &bad) == MARLINE_ERR_WRONG_HANDLE_TYPE,
          "telnet calls on a plain TCP transport fail with WRONG_HANDLE_TYPE");

    /* The server allows 8 bytes of subnegotiation; 9 is a protocol violation. */
    memset(big, 'x', sizeof big);
    check(telnet_request_negotiation(client, 77, big, sizeof big) == MARLINE_OK, "telnet_request_negotiation");
    check(both(&srv.lost, &cli.lost), "oversized subnegotiation drops the connection");
    check(srv.lost_kind == MARLINE_REASON_PROTOCOL_VIOLATION, "server's reason is PROTOCOL_VIOLATION");
    check(strstr(srv.lost_message, "subnegotiation") != NULL, "the reason message says why");
    check(telnet_will(client, TELNET_OPT_ECHO, on_done, &bad) == MARLINE_ERR_STALE_HANDLE,
          "the handle is stale after connection_lost");

    /* A silent raw peer: TIMED_OUT, then CONNECTION_LOST with a reason. */
    lfd = raw_listener(&rport);
    check(lfd >= 0, "raw listener");
    rp.connection_made = on_made;
    rp.connection_lost = on_lost;
    {
        /* The user pointer set between connect and connection_made is the one the callbacks get. */
        side_state first;
        memset(&first, 0, sizeof first);
        check(reactor_connect_telnet(reactor, "127.0.0.1", rport, 5.0, &rp, &first, &rawc) == MARLINE_OK,
              "connect to the raw peer");
        check(transport_set_user(rawc, &raw_cli) == MARLINE_OK, "transport_set_user before connection_made");
        check(run_until(&raw_cli.made) && !first.made, "connected to the raw peer, with the user pointer set");
    }
    afd = accept(lfd, NULL, NULL);
    check(afd >= 0, "raw peer accepted");
    check(telnet_set_negotiation_timeout(rawc, 0.05) == MARLINE_OK, "telnet_set_negotiation_timeout");
    {
        static completion timed, lostc;
        check(telnet_will(rawc, TELNET_OPT_ECHO, on_done, &timed) == MARLINE_OK, "telnet_will to a silent peer");
        check(run_until(&timed.calls) && timed.result == MARLINE_TELNET_TIMED_OUT && !timed.had_reason,
              "completion is TIMED_OUT");
        check(telnet_set_negotiation_timeout(rawc, 0) == MARLINE_OK, "timeout off");
        check(telnet_do(rawc, TELNET_OPT_SGA, on_done, &lostc) == MARLINE_OK, "telnet_do to a silent peer");
        close(afd);
        check(run_until(&lostc.calls) && lostc.result == MARLINE_TELNET_CONNECTION_LOST && lostc.had_reason,
              "completion is CONNECTION_LOST with a reason");
        check(run_until(&raw_cli.lost) && raw_cli.lost == 1, "connection_lost once, after the completion");
        check(timed.calls == 1 && lostc.calls == 1, "each completion fired exactly once");
    }
    close(lfd);
    check(bad.calls == 0, "no failed call ever called its callback");
    check(cli_never.calls == 0, "unused completion untouched");

    check(reactor_free(reactor) == MARLINE_OK, "reactor_free");
    return check_summary();
}
