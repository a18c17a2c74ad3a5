/* process_cat: spawns `cat`, writes to it (transport_write and
 * transport_write_sequence), closes its stdin, reads everything back,
 * prints the exit status, and exits 0 when the bytes came back intact and
 * cat exited with code 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marline.h"

struct state {
    reactor_t *reactor;
    char got[4096];
    size_t got_len;
    int exit_code; /* -1 until known */
    int ended;
};

static void on_data(transport_t *t, int32_t fd, const uint8_t *data, size_t len, void *user) {
    struct state *st = (struct state *)user;
    (void)t;
    if (fd == 1 && st->got_len + len <= sizeof st->got) {
        memcpy(st->got + st->got_len, data, len);
        st->got_len += len;
    }
}

static void on_ended(transport_t *t, const marline_reason_t *reason, void *user) {
    struct state *st = (struct state *)user;
    int32_t code = 0, sig = 0;
    (void)t;
    if (marline_reason_exit_code(reason, &code) == MARLINE_OK) {
        st->exit_code = code;
        printf("cat exited with status %d\n", (int)code);
    } else if (marline_reason_signal(reason, &sig) == MARLINE_OK) {
        const char *name = process_signal_name(sig);
        printf("cat was killed by signal %s\n", name ? name : "?");
    } else {
        printf("cat ended: %s\n", marline_reason_message(reason));
    }
    st->ended = 1;
    reactor_stop(st->reactor);
}

int main(void) {
    static const char first[] = "hello from marline\n";
    static const char part1[] = "written with ";
    static const char part2[] = "write_sequence\n";
    const char *expected = "hello from marline\nwritten with write_sequence\n";
    const char *argv[] = {"cat", NULL};
    struct state st;
    marline_process_protocol_t proto;
    marline_iovec_t iov[2];
    transport_t *t = NULL;
    marline_status_t s;

    memset(&st, 0, sizeof st);
    st.exit_code = -1;
    MARLINE_INIT(&proto);
    proto.child_data_received = on_data;
    proto.process_ended = on_ended;

    s = reactor_new(&st.reactor);
    if (s != MARLINE_OK) {
        fprintf(stderr, "process_cat: reactor_new: %s\n", marline_strerror(s));
        return 1;
    }
    s = reactor_spawn_process(st.reactor, "cat", argv, NULL, NULL, NULL, 0, false, &proto, &st, &t);
    if (s != MARLINE_OK) {
        fprintf(stderr, "process_cat: cannot spawn cat: %s\n", marline_strerror(s));
        reactor_free(st.reactor);
        return 1;
    }
    transport_write(t, (const uint8_t *)first, strlen(first));
    iov[0].base = (const uint8_t *)part1;
    iov[0].len = strlen(part1);
    iov[1].base = (const uint8_t *)part2;
    iov[1].len = strlen(part2);
    transport_write_sequence(t, iov, 2);
    process_close_stdin(t);
    reactor_run(st.reactor);
    reactor_free(st.reactor);

    fwrite(st.got, 1, st.got_len, stdout);
    if (!st.ended || st.exit_code != 0 || st.got_len != strlen(expected) || memcmp(st.got, expected, st.got_len) != 0) {
        fprintf(stderr, "process_cat: FAILED (got %zu bytes, exit %d)\n", st.got_len, st.exit_code);
        return 1;
    }
    return 0;
}
