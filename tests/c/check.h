/* check.h: the tiny assertion helper every tests/c/test_*.c uses.
 * CHECK(cond, what) prints "ok - what" or "FAIL - what (file:line)";
 * check_summary() prints "N passed, M failed" and returns the exit status. */
#ifndef MARLINE_TEST_CHECK_H
#define MARLINE_TEST_CHECK_H

#include <stdio.h>

static int check_passed = 0;
static int check_failed = 0;

#define CHECK(cond, what) check_record((cond) ? 1 : 0, (what), __FILE__, __LINE__)

static inline void check_record(int ok, const char *what, const char *file, int line) {
    if (ok) {
        check_passed++;
        printf("ok - %s\n", what);
    } else {
        check_failed++;
        printf("FAIL - %s (%s:%d)\n", what, file, line);
    }
    fflush(stdout);
}

static inline int check_summary(void) {
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}

#endif
