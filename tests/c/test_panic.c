/*
 * test_panic: a panic inside marline never reaches the host's stderr (issue 12 item 10).
 * marline_debug_panic panics inside marline's boundary: it returns MARLINE_ERR_PANIC, the
 * message goes to the log callback (MARLINE_LOG_ERROR) and nothing is written on stderr;
 * with no log callback the message is dropped, still with nothing on stderr.
 *
 * One line per check ("ok - ..." or "FAIL - ..."); exit status 0 only if all pass.
 * Built as C99 and as C++ and run natively, under ASan+UBSan and under valgrind by
 * tests/c_programs.rs.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "marline.h"

#include "check.h"

typedef struct log_record {
    int calls;
    int level;
    char message[1024];
} log_record;

static void on_log(int level, const char *message, void *user) {
    log_record *r = (log_record *)user;
    r->calls++;
    r->level = level;
    snprintf(r->message, sizeof r->message, "%s", message);
}

/* Runs marline_debug_panic with stderr sent to a temporary file; returns its status and
 * writes the number of bytes that reached stderr to *written. */
static marline_status_t panic_with_stderr_captured(long *written) {
    FILE *capture = tmpfile();
    int saved;
    marline_status_t st;
    if (capture == NULL) {
        *written = -1;
        return MARLINE_OK;
    }
    fflush(stderr);
    saved = dup(2);
    dup2(fileno(capture), 2);
    st = marline_debug_panic();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fseek(capture, 0, SEEK_END);
    *written = ftell(capture);
    fclose(capture);
    return st;
}

int main(void) {
    log_record record;
    long written = 0;
    marline_status_t st;

    memset(&record, 0, sizeof record);
    CHECK(marline_set_log_callback(on_log, &record) == MARLINE_OK, "log callback set");
    st = panic_with_stderr_captured(&written);
    CHECK(st == MARLINE_ERR_PANIC, "a panic inside marline returns MARLINE_ERR_PANIC");
    CHECK(written == 0, "nothing reached stderr");
    CHECK(record.calls == 1, "the log callback got one message");
    CHECK(record.level == MARLINE_LOG_ERROR, "at MARLINE_LOG_ERROR");
    CHECK(strstr(record.message, "marline_debug_panic was called") != NULL, "with the panic's message");

    CHECK(marline_set_log_callback(NULL, NULL) == MARLINE_OK, "log callback removed");
    st = panic_with_stderr_captured(&written);
    CHECK(st == MARLINE_ERR_PANIC, "again MARLINE_ERR_PANIC without a log callback");
    CHECK(written == 0, "and still nothing on stderr");
    CHECK(record.calls == 1, "the removed callback heard nothing");
    return check_summary();
}
