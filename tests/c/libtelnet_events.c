/*
 * libtelnet_events: print libtelnet's parse of a byte stream, one event per line.
 *
 * Usage: libtelnet_events [CHUNK...] < stream
 *
 * Reads the whole stream from stdin and feeds it to telnet_recv() in chunks whose sizes
 * are taken from argv in turn, cycling (no arguments: one chunk). libtelnet runs in
 * TELNET_FLAG_PROXY mode so negotiations are reported raw instead of answered. The last
 * byte of the stream is always fed on its own, after a line `LAST`, so that the reader
 * can tell whether the stream ended in plain data (then a DATA line follows LAST).
 *
 * Output lines (numbers in decimal, bytes in lower-case hex):
 *   DATA [hex]          one per libtelnet data event (not merged)
 *   IAC n               IAC followed by any other command byte
 *   WILL n / WONT n / DO n / DONT n
 *   SB opt [hex]        a subnegotiation and its payload
 *   OVERFLOW            the subnegotiation buffer limit was hit
 *   WARNING msg / ERROR msg     any other error libtelnet reports
 * Other libtelnet events (TTYPE, ENVIRON, ZMP, MSSP, COMPRESS, SEND) are not printed.
 *
 * Built and run by tests/telnet_differential.rs.
 */
/* libtelnet.h uses size_t without including <stddef.h>. */
#include <stddef.h>

#include <libtelnet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_hex(const char *buf, size_t size) {
    size_t i;
    putchar('[');
    for (i = 0; i < size; i++)
        printf("%02x", (unsigned)(unsigned char)buf[i]);
    putchar(']');
}

static void handler(telnet_t *telnet, telnet_event_t *ev, void *user_data) {
    (void)telnet;
    (void)user_data;
    switch (ev->type) {
    case TELNET_EV_DATA:
        fputs("DATA ", stdout);
        print_hex(ev->data.buffer, ev->data.size);
        putchar('\n');
        break;
    case TELNET_EV_IAC:
        printf("IAC %u\n", (unsigned)ev->iac.cmd);
        break;
    case TELNET_EV_WILL:
        printf("WILL %u\n", (unsigned)ev->neg.telopt);
        break;
    case TELNET_EV_WONT:
        printf("WONT %u\n", (unsigned)ev->neg.telopt);
        break;
    case TELNET_EV_DO:
        printf("DO %u\n", (unsigned)ev->neg.telopt);
        break;
    case TELNET_EV_DONT:
        printf("DONT %u\n", (unsigned)ev->neg.telopt);
        break;
    case TELNET_EV_SUBNEGOTIATION:
        printf("SB %u ", (unsigned)ev->sub.telopt);
        print_hex(ev->sub.buffer, ev->sub.size);
        putchar('\n');
        break;
    case TELNET_EV_WARNING:
    case TELNET_EV_ERROR:
        /* libtelnet 0.21 leaves errcode unset, so the message is what tells them apart. */
        if (ev->error.msg != NULL && strstr(ev->error.msg, "buffer size limit") != NULL)
            puts("OVERFLOW");
        else
            printf("%s %s\n", ev->type == TELNET_EV_ERROR ? "ERROR" : "WARNING",
                   ev->error.msg != NULL ? ev->error.msg : "?");
        break;
    default:
        break;
    }
}

int main(int argc, char **argv) {
    size_t cap = 4096, len = 0, pos = 0;
    char *buf = malloc(cap);
    size_t n;
    int arg = 1;
    telnet_t *telnet;

    if (buf == NULL)
        return 2;
    while ((n = fread(buf + len, 1, cap - len, stdin)) > 0) {
        len += n;
        if (len == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL)
                return 2;
            buf = bigger;
            cap *= 2;
        }
    }
    if (ferror(stdin))
        return 2;

    telnet = telnet_init(NULL, handler, TELNET_FLAG_PROXY, NULL);
    if (telnet == NULL)
        return 2;
    while (pos < len) {
        size_t chunk = len - pos;
        if (pos + 1 == len) {
            puts("LAST");
        } else if (chunk > 1) {
            chunk -= 1; /* keep the last byte for its own call */
        }
        if (argc > 1) {
            long want = strtol(argv[arg], NULL, 10);
            if (want <= 0) {
                fprintf(stderr, "bad chunk size: %s\n", argv[arg]);
                return 2;
            }
            if ((size_t)want < chunk)
                chunk = (size_t)want;
            arg = arg + 1 < argc ? arg + 1 : 1;
        }
        telnet_recv(telnet, buf + pos, chunk);
        pos += chunk;
    }
    telnet_free(telnet);
    free(buf);
    return fflush(stdout) == 0 ? 0 : 2;
}
