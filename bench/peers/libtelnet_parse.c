/* libtelnet_parse plain|iac|ff|crnul MIB REPS: libtelnet's telnet_recv on
 * the same input as bench/src/bin/telnet_parse.rs, checked the same way
 * (every TELNET_EV_DATA byte compared with the encoded data at a running
 * offset). libtelnet does no NVT newline translation on receive, so in
 * crnul mode its data is the input itself (CR NUL kept). */
#include <stddef.h>
#include <libtelnet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

static const uint8_t *want;
static size_t want_len, pos, checked;
static int ok = 1;
static unsigned long long commands;

static void on_event(telnet_t *t, telnet_event_t *ev, void *user) {
    (void)t;
    (void)user;
    if (ev->type == TELNET_EV_DATA) {
        if (pos == want_len) pos = 0;
        size_t n = ev->data.size;
        ok &= pos + n <= want_len && memcmp(want + pos, ev->data.buffer, n) == 0;
        pos += n;
        checked += n;
    } else {
        commands++;
    }
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "plain";
    int iac = strcmp(mode, "iac") == 0, ff = strcmp(mode, "ff") == 0, crnul = strcmp(mode, "crnul") == 0;
    if (!iac && !ff && !crnul && strcmp(mode, "plain") != 0) {
        fprintf(stderr, "usage: libtelnet_parse plain|iac|ff|crnul MIB REPS\n");
        return 2;
    }
    size_t len = (size_t)(argc > 2 ? atol(argv[2]) : 64) << 20;
    int reps = argc > 3 ? atoi(argv[3]) : 1;
    uint8_t *t = pattern_table();
    uint8_t *input = malloc(len + 8), *data = malloc(len + 8);
    size_t in = 0, dn = 0, i = 0;
    while (in < len) {
        if (iac) {
            for (int k = 0; k < 4; k++, i++) input[in++] = data[dn++] = (uint8_t)(32 + t[i % PATTERN_PERIOD] % 95);
            input[in++] = 255;
            input[in++] = 255;
            input[in++] = 255;
            input[in++] = 241;
            data[dn++] = 255;
        } else if (ff) {
            input[in++] = data[dn++] = (uint8_t)(32 + t[i++ % PATTERN_PERIOD] % 95);
            input[in++] = 255;
            input[in++] = 255;
            data[dn++] = 255;
        } else if (crnul) {
            input[in++] = data[dn++] = (uint8_t)(32 + t[i++ % PATTERN_PERIOD] % 95);
            input[in++] = data[dn++] = '\r';
            input[in++] = data[dn++] = 0;
        } else {
            input[in++] = data[dn++] = (uint8_t)(32 + t[i % PATTERN_PERIOD] % 95);
            i++;
        }
    }
    want = data;
    want_len = dn;
    static const telnet_telopt_t none[] = {{-1, 0, 0}};
    telnet_t *tn = telnet_init(none, on_event, 0, NULL);
    uint64_t t0 = mono_ns();
    for (int r = 0; r < reps; r++)
        for (size_t off = 0; off < in; off += 65536) telnet_recv(tn, (const char *)input + off, in - off < 65536 ? in - off : 65536);
    double secs = (double)(mono_ns() - t0) / 1e9;
    if (!ok || checked != dn * (size_t)reps) {
        printf("FAIL libtelnet's data differs from what was encoded\n");
        return 1;
    }
    printf("RESULT value=%.1f unit=MiB/s checked=%zu commands=%llu byte-exact: pass\n", (double)in * reps / 1048576.0 / secs, dn * (size_t)reps,
           commands);
    telnet_free(tn);
    return 0;
}
