/* stream_demo: a blocking client and server in one program, with the
 * MacTCP-style stream API. The server opens passively (returns at once)
 * with a notification routine (asr); a client thread connects, sends a
 * line and then urgent data, and closes; the server receives everything,
 * showing the urgent and mark flags of each piece, prints its status
 * record, and the program exits 0 when all arrived as expected. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "marline.h"

static const char *event_name(tcp_stream_event_t e) {
    switch (e) {
    case TCP_STREAM_EVENT_CLOSING: return "CLOSING";
    case TCP_STREAM_EVENT_ULP_TIMEOUT: return "ULP_TIMEOUT";
    case TCP_STREAM_EVENT_TERMINATE: return "TERMINATE";
    case TCP_STREAM_EVENT_DATA_ARRIVAL: return "DATA_ARRIVAL";
    case TCP_STREAM_EVENT_URGENT: return "URGENT";
    case TCP_STREAM_EVENT_ICMP_RECEIVED: return "ICMP_RECEIVED";
    case TCP_STREAM_EVENT_PASSIVE_OPEN_DONE: return "PASSIVE_OPEN_DONE";
    }
    return "?";
}

/* Runs on the stream's asr thread, one notification at a time; it could
 * call any tcp_stream_* function on the stream (the seed: "It is safe to
 * do further calls from the asr"). */
static void asr(tcp_stream_t *stream, tcp_stream_event_t event, int32_t detail, void *user) {
    (void)stream;
    printf("  [asr %s] %s (detail %d)\n", (const char *)user, event_name(event), (int)detail);
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

static int fail(const char *what, marline_status_t s) {
    fprintf(stderr, "stream_demo: %s: %s\n", what, marline_strerror((int)s));
    return 1;
}

static void *client(void *arg) {
    int port = *(int *)arg;
    tcp_stream_t *c = NULL;
    marline_status_t s = tcp_stream_new(&c);
    if (s == MARLINE_OK) s = tcp_stream_active_open(c, 0, "127.0.0.1", port, 5.0);
    if (s == MARLINE_OK) s = tcp_stream_send(c, (const uint8_t *)"hello, ", 7, false, false);
    if (s == MARLINE_OK) s = tcp_stream_send(c, (const uint8_t *)"world\n", 6, true, false);
    /* Urgent data: the urgent pointer lands after its last byte, "!". */
    if (s == MARLINE_OK) s = tcp_stream_send(c, (const uint8_t *)"STOP!", 5, true, true);
    if (s == MARLINE_OK) s = tcp_stream_send(c, (const uint8_t *)"bye\n", 4, true, false);
    /* Returns once the server has acknowledged every byte. */
    if (s == MARLINE_OK) s = tcp_stream_close(c, 5.0);
    if (s != MARLINE_OK) fail("client", s);
    tcp_stream_free(c);
    return NULL;
}

static void print_status(const tcp_stream_status_t *st) {
    char local[INET6_ADDRSTRLEN] = "?", remote[INET6_ADDRSTRLEN] = "?";
    int af = st->family == 6 ? AF_INET6 : AF_INET;
    inet_ntop(af, st->local_host, local, sizeof local);
    inet_ntop(af, st->remote_host, remote, sizeof remote);
    printf("status:\n");
    printf("  local %s:%u  remote %s:%u  tos %u\n", local, (unsigned)st->local_port, remote,
           (unsigned)st->remote_port, (unsigned)st->tos);
    printf("  state %d%s\n", (int)st->state, st->state == TCP_STREAM_STATE_CLOSE_WAIT ? " (CLOSE_WAIT)" : "");
    printf("  send window %u  receive window %u  congestion window %u segments  mss %u\n",
           (unsigned)st->send_window, (unsigned)st->receive_window, (unsigned)st->congestion_window,
           (unsigned)st->max_segment_size);
    printf("  unacked %u  unread %u\n", (unsigned)st->unacked_bytes, (unsigned)st->unread_bytes);
    printf("  rtt %u us (variance %u, min %u)\n", (unsigned)st->smoothed_rtt_us, (unsigned)st->rtt_variance_us,
           (unsigned)st->min_rtt_us);
    printf("  sent %llu  acked %llu  received %llu bytes\n", (unsigned long long)st->bytes_sent,
           (unsigned long long)st->bytes_acked, (unsigned long long)st->bytes_received);
}

int main(void) {
    tcp_stream_t *server = NULL;
    tcp_stream_status_t st;
    pthread_t thread;
    char text[128];
    size_t total = 0;
    int port, saw_urgent = 0, saw_mark = 0, ok;
    marline_status_t s = tcp_stream_new(&server);
    if (s != MARLINE_OK) return fail("tcp_stream_new", s);
    tcp_stream_set_asr(server, asr, (void *)"server");
    /* Loopback only: nothing outside this host can connect. */
    s = tcp_stream_passive_open_on(server, "127.0.0.1", 0);
    if (s != MARLINE_OK) return fail("passive open", s);
    port = port_of(server);
    printf("server: passive open on port %d (returned at once)\n", port);

    pthread_create(&thread, NULL, client, &port);
    s = tcp_stream_wait(server, 5.0);
    if (s != MARLINE_OK) return fail("wait", s);
    printf("server: connection accepted\n");

    for (;;) {
        uint8_t buf[64];
        size_t len = 0;
        bool urgent = false, mark = false;
        s = tcp_stream_rcv(server, 5.0, buf, sizeof buf, &len, &urgent, &mark);
        if (s == MARLINE_ERR_CONNECTION_CLOSING) {
            printf("server: the client has closed and everything was read\n");
            break;
        }
        if (s != MARLINE_OK) return fail("rcv", s);
        printf("server: rcv %2zu bytes urgent=%d mark=%d \"%.*s\"\n", len, urgent, mark, (int)len, (const char *)buf);
        saw_urgent |= urgent;
        saw_mark |= mark && len == 1 && buf[0] == '!';
        if (total + len < sizeof text) {
            memcpy(text + total, buf, len);
            total += len;
        }
    }
    pthread_join(thread, NULL);

    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    s = tcp_stream_status(server, &st);
    if (s != MARLINE_OK) return fail("status", s);
    print_status(&st);
    tcp_stream_free(server);

    ok = saw_urgent && saw_mark && total == 22 && memcmp(text, "hello, world\nSTOP!bye\n", 22) == 0 &&
         st.state == TCP_STREAM_STATE_CLOSE_WAIT && st.bytes_received == 22 + 1 /* the FIN */;
    printf("%s\n", ok ? "stream_demo: success" : "stream_demo: FAILED");
    return ok ? 0 : 1;
}
