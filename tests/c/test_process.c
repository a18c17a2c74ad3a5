/* C tests of process transports: spawning, stdio, exit codes, signals,
 * signal after exit, bad arguments, custom child fds, pty, stale handles.
 * Prints one line per check; exits non-zero if any check failed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "marline.h"

#include "check.h"

#define check(ok, what) CHECK(ok, what)

struct rec {
    reactor_t *reactor;
    char out[8192];
    size_t out_len;
    char err[1024];
    size_t err_len;
    char fd4[256];
    size_t fd4_len;
    int made, exited, ended, lost_mask;
    int exited_before_ended;
    marline_reason_kind_t kind;
    int32_t code, sig;
    bool core;
    int status;
    marline_status_t signal_in_exited, signal_in_ended, pid_in_ended;
    int write_on_start_fd; /* write "righto" to this fd on "start\n" */
};

static void rec_init(struct rec *r, reactor_t *reactor) {
    memset(r, 0, sizeof *r);
    r->reactor = reactor;
    r->code = -1;
    r->sig = -1;
    r->write_on_start_fd = -1;
}

static void on_made(transport_t *t, void *user) {
    (void)t;
    ((struct rec *)user)->made++;
}

static void append(char *buf, size_t *len, size_t cap, const uint8_t *data, size_t n) {
    if (*len + n <= cap) {
        memcpy(buf + *len, data, n);
        *len += n;
    }
}

static void on_data(transport_t *t, int32_t fd, const uint8_t *data, size_t len, void *user) {
    struct rec *r = (struct rec *)user;
    if (fd == 1) {
        append(r->out, &r->out_len, sizeof r->out, data, len);
        if (r->write_on_start_fd >= 0 && r->out_len == 6 && memcmp(r->out, "start\n", 6) == 0) {
            process_write_to_child(t, r->write_on_start_fd, (const uint8_t *)"righto", 6);
            process_close_child_fd(t, r->write_on_start_fd);
        }
    } else if (fd == 2) {
        append(r->err, &r->err_len, sizeof r->err, data, len);
    } else if (fd == 4) {
        append(r->fd4, &r->fd4_len, sizeof r->fd4, data, len);
    }
}

static void on_child_lost(transport_t *t, int32_t fd, void *user) {
    (void)t;
    ((struct rec *)user)->lost_mask |= 1 << fd;
}

static void on_exited(transport_t *t, const marline_reason_t *reason, void *user) {
    struct rec *r = (struct rec *)user;
    (void)reason;
    r->exited++;
    if (!r->ended) {
        r->exited_before_ended = 1;
    }
    r->signal_in_exited = process_signal(t, 15);
}

static void on_ended(transport_t *t, const marline_reason_t *reason, void *user) {
    struct rec *r = (struct rec *)user;
    int32_t pid = 0;
    r->ended++;
    r->kind = marline_reason_kind(reason);
    marline_reason_exit_code(reason, &r->code);
    marline_reason_signal(reason, &r->sig);
    r->core = marline_reason_core_dumped(reason);
    r->status = marline_reason_wait_status(reason);
    r->signal_in_ended = process_signal_by_name(t, "KILL");
    r->pid_in_ended = process_get_pid(t, &pid);
}

static marline_process_protocol_t table(void) {
    marline_process_protocol_t p;
    MARLINE_INIT(&p);
    p.connection_made = on_made;
    p.child_data_received = on_data;
    p.child_connection_lost = on_child_lost;
    p.process_exited = on_exited;
    p.process_ended = on_ended;
    return p;
}

static void run_until_ended(struct rec *r) {
    int i;
    for (i = 0; i < 1000 && !r->ended; i++) {
        reactor_run_once(r->reactor, 0.02);
    }
}

/* The hex mask after "field" ("SigIgn:") in a /proc/<pid>/status text. */
static unsigned long long status_mask(const char *text, const char *field) {
    const char *at = strstr(text, field);
    return at ? strtoull(at + strlen(field), NULL, 16) : ~0ULL;
}

/* Field `n` (1-based, after the command name) of a /proc/<pid>/stat text. */
static long stat_field(const char *text, int n) {
    const char *at = strrchr(text, ')');
    int i;
    for (i = 0; at != NULL && i < n; i++) {
        at = strchr(at + 1, ' ');
    }
    return at ? strtol(at + 1, NULL, 10) : -1;
}

/* Spawns `cat FILE` with `options` and runs it to its end. */
static marline_status_t cat_with(reactor_t *reactor, const char *file, const marline_spawn_options_t *options, struct rec *r) {
    const char *argv[] = {"cat", file, NULL};
    marline_process_protocol_t p = table();
    transport_t *t = NULL;
    marline_status_t s;
    rec_init(r, reactor);
    s = reactor_spawn_process_with(reactor, "cat", argv, options, &p, r, &t);
    if (s == MARLINE_OK) {
        run_until_ended(r);
        r->out[r->out_len < sizeof r->out ? r->out_len : sizeof r->out - 1] = '\0';
    }
    return s;
}

static marline_status_t spawn_sh(reactor_t *reactor, const char *script, struct rec *r, transport_t **t) {
    const char *argv[] = {"sh", "-c", script, NULL};
    marline_process_protocol_t p = table();
    return reactor_spawn_process(reactor, "/bin/sh", argv, NULL, NULL, NULL, 0, false, &p, r, t);
}

int main(void) {
    reactor_t *reactor = NULL;
    transport_t *t = NULL;
    struct rec r;
    marline_process_protocol_t p = table();
    marline_status_t s;

    check(reactor_new(&reactor) == MARLINE_OK, "reactor_new");

    /* cat: write, write_sequence, close stdin, everything comes back. */
    {
        const char *argv[] = {"cat", NULL};
        marline_iovec_t iov[2];
        rec_init(&r, reactor);
        s = reactor_spawn_process(reactor, "cat", argv, NULL, NULL, NULL, 0, false, &p, &r, &t);
        check(s == MARLINE_OK, "spawn cat");
        check(transport_write(t, (const uint8_t *)"abc", 3) == MARLINE_OK, "transport_write to a process");
        iov[0].base = (const uint8_t *)"def";
        iov[0].len = 3;
        iov[1].base = (const uint8_t *)"ghi\n";
        iov[1].len = 4;
        check(transport_write_sequence(t, iov, 2) == MARLINE_OK, "transport_write_sequence to a process");
        check(process_close_stdin(t) == MARLINE_OK, "process_close_stdin");
        /* stdin closes from the loop: a write in the same turn is still sent. */
        check(transport_write(t, (const uint8_t *)"x", 1) == MARLINE_OK, "write right after close_stdin is accepted");
        run_until_ended(&r);
        check(r.out_len == 11 && memcmp(r.out, "abcdefghi\nx", 11) == 0, "cat echoed every byte in order");
        check(r.made == 1 && r.exited == 1 && r.ended == 1 && r.exited_before_ended, "made, exited, ended once each, exited first");
        check(r.lost_mask == 7, "child_connection_lost for 0, 1 and 2");
        check(r.kind == MARLINE_REASON_DONE && r.code == 0 && r.status == 0, "exit code 0 is DONE");
        check(r.signal_in_exited == MARLINE_ERR_PROCESS_EXITED_ALREADY, "signal in process_exited: PROCESS_EXITED_ALREADY");
        check(r.signal_in_ended == MARLINE_ERR_PROCESS_EXITED_ALREADY, "signal by name in process_ended: PROCESS_EXITED_ALREADY");
        check(r.pid_in_ended == MARLINE_ERR_PROCESS_EXITED_ALREADY, "pid after reaping: PROCESS_EXITED_ALREADY");
        check(process_signal(t, 15) == MARLINE_ERR_STALE_HANDLE, "after process_ended the handle is stale");
    }

    /* Exit codes and stderr. */
    rec_init(&r, reactor);
    check(spawn_sh(reactor, "printf oops >&2; exit 42", &r, &t) == MARLINE_OK, "spawn sh exit 42");
    run_until_ended(&r);
    check(r.kind == MARLINE_REASON_TERMINATED && r.code == 42 && r.sig == -1, "exit 42 is TERMINATED with code 42");
    check(r.status == 42 << 8, "raw wait status");
    check(r.err_len == 4 && memcmp(r.err, "oops", 4) == 0, "stderr arrives as fd 2");

    /* Signals, by number and by name. */
    {
        static const struct { const char *name; int num; } sigs[] = {{"HUP", 1}, {"INT", 2}, {"KILL", 9}, {"TERM", 15}};
        size_t i;
        for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
            char what[128];
            int32_t pid = 0;
            rec_init(&r, reactor);
            check(spawn_sh(reactor, "exec sleep 100", &r, &t) == MARLINE_OK, "spawn sleep");
            check(process_get_pid(t, &pid) == MARLINE_OK && pid > 1, "process_get_pid");
            s = (i % 2) ? process_signal(t, sigs[i].num) : process_signal_by_name(t, sigs[i].name);
            snprintf(what, sizeof what, "send %s", sigs[i].name);
            check(s == MARLINE_OK, what);
            run_until_ended(&r);
            snprintf(what, sizeof what, "killed by %s: TERMINATED, signal %d, no exit code", sigs[i].name, sigs[i].num);
            check(r.kind == MARLINE_REASON_TERMINATED && r.sig == sigs[i].num && r.code == -1 && !r.core, what);
            snprintf(what, sizeof what, "process_signal_name(%d) is %s", sigs[i].num, sigs[i].name);
            check(strcmp(process_signal_name(r.sig), sigs[i].name) == 0, what);
        }
        check(strcmp(process_signal_name(7), "BUS@linux") == 0, "a non-portable signal is NAME@linux");
        check(process_signal_name(0) == NULL && process_signal_name(999) == NULL, "no name for a non-signal");
        /* The conch seed's _getSignalName form; exit-signal sends it without "SIG". */
        check(strcmp(process_signal_full_name(15), "SIGTERM") == 0, "process_signal_full_name(15) is SIGTERM");
        check(strcmp(process_signal_full_name(7), "SIGBUS@linux") == 0, "a non-portable full name is SIGNAME@linux");
        check(strcmp(process_signal_full_name(7) + 3, process_signal_name(7)) == 0, "the exit-signal name is the full name without SIG");
        check(process_signal_full_name(0) == NULL && process_signal_full_name(-1) == NULL && process_signal_full_name(999) == NULL, "no full name for a non-signal");
    }

    /* Bad arguments: synchronous errors, no callback, nothing written. */
    {
        const char *argv[] = {"x", NULL};
        const char *empty[] = {NULL};
        marline_child_fd_t dup_map[2] = {{1, MARLINE_CHILD_FD_FROM_CHILD, -1}, {1, MARLINE_CHILD_FD_TO_CHILD, -1}};
        marline_child_fd_t bad_inherit[1] = {{3, MARLINE_CHILD_FD_INHERIT, 987654}};
        marline_child_fd_t bad_kind[1] = {{3, 77, -1}};
        transport_t *none = NULL;
        rec_init(&r, reactor);
        check(reactor_spawn_process(reactor, "/nonexistent/prog", argv, NULL, NULL, NULL, 0, false, &p, &r, &none) == MARLINE_ERR_BAD_EXECUTABLE, "nonexistent executable: BAD_EXECUTABLE");
        check(reactor_spawn_process(reactor, "/etc/passwd", argv, NULL, NULL, NULL, 0, false, &p, &r, &none) == MARLINE_ERR_BAD_EXECUTABLE, "non-executable file: BAD_EXECUTABLE");
        check(reactor_spawn_process(reactor, "/bin/sh", NULL, NULL, NULL, NULL, 0, false, &p, &r, &none) == MARLINE_ERR_NULL_POINTER, "NULL argv: NULL_POINTER");
        check(reactor_spawn_process(reactor, "/bin/sh", empty, NULL, NULL, NULL, 0, false, &p, &r, &none) == MARLINE_ERR_INVALID_ARGUMENT, "empty argv: INVALID_ARGUMENT");
        check(reactor_spawn_process(reactor, NULL, argv, NULL, NULL, NULL, 0, false, &p, &r, &none) == MARLINE_ERR_NULL_POINTER, "NULL executable: NULL_POINTER");
        check(reactor_spawn_process(reactor, "/bin/true", argv, NULL, "/nonexistent", NULL, 0, false, &p, &r, &none) == MARLINE_ERR_BAD_WORKING_DIRECTORY, "bad cwd: BAD_WORKING_DIRECTORY");
        check(marline_last_os_error() == 2, "the errno (ENOENT) is kept");
        check(reactor_spawn_process(reactor, "/bin/true", argv, NULL, NULL, dup_map, 2, false, &p, &r, &none) == MARLINE_ERR_BAD_CHILD_FD_MAP, "repeated child fd: BAD_CHILD_FD_MAP");
        check(reactor_spawn_process(reactor, "/bin/true", argv, NULL, NULL, bad_inherit, 1, false, &p, &r, &none) == MARLINE_ERR_BAD_CHILD_FD_MAP, "inheriting a closed fd: BAD_CHILD_FD_MAP");
        check(reactor_spawn_process(reactor, "/bin/true", argv, NULL, NULL, bad_kind, 1, false, &p, &r, &none) == MARLINE_ERR_BAD_CHILD_FD_MAP, "unknown kind: BAD_CHILD_FD_MAP");
        check(reactor_spawn_process(reactor, "/bin/true", argv, NULL, NULL, NULL, 1, false, &p, &r, &none) == MARLINE_ERR_NULL_POINTER, "NULL fd map with a length: NULL_POINTER");
        check(reactor_spawn_process(reactor, "/bin/true", argv, NULL, NULL, NULL, 0, false, NULL, &r, &none) == MARLINE_ERR_NULL_POINTER, "NULL protocol: NULL_POINTER");
        reactor_run_once(reactor, 0.01);
        check(none == NULL && r.made == 0 && r.ended == 0, "no callback, no handle after a failed spawn");
        check(process_signal(NULL, 15) == MARLINE_ERR_NULL_POINTER, "process_signal(NULL): NULL_POINTER");
    }

    /* Custom child fds, environment, working directory. */
    {
        const char *argv[] = {"sh", "-c", "echo start; cat <&3 >&4; echo \"$FOO\" >&4; pwd >&4", NULL};
        const char *envp[] = {"FOO=bar", "PATH=/usr/bin:/bin", NULL};
        marline_child_fd_t map[4] = {
            {1, MARLINE_CHILD_FD_FROM_CHILD, -1},
            {2, MARLINE_CHILD_FD_FROM_CHILD, -1},
            {3, MARLINE_CHILD_FD_TO_CHILD, -1},
            {4, MARLINE_CHILD_FD_FROM_CHILD, -1},
        };
        const char *want = "rightobar\n/tmp\n";
        rec_init(&r, reactor);
        r.write_on_start_fd = 3;
        s = reactor_spawn_process(reactor, "/bin/sh", argv, envp, "/tmp", map, 4, false, &p, &r, &t);
        check(s == MARLINE_OK, "spawn with a fd map, env and cwd");
        check(process_write_to_child(t, 1, (const uint8_t *)"x", 1) == MARLINE_ERR_NO_SUCH_CHILD_FD, "write_to_child on a read fd: NO_SUCH_CHILD_FD");
        check(process_write_to_child(t, 9, (const uint8_t *)"x", 1) == MARLINE_ERR_NO_SUCH_CHILD_FD, "write_to_child on an unknown fd: NO_SUCH_CHILD_FD");
        check(transport_write(t, (const uint8_t *)"x", 1) == MARLINE_ERR_NO_SUCH_CHILD_FD, "no stdin mapped: NO_SUCH_CHILD_FD");
        run_until_ended(&r);
        check(r.fd4_len == strlen(want) && memcmp(r.fd4, want, r.fd4_len) == 0, "fd 3 in, fd 4 out, env and cwd applied");
        check(r.lost_mask == ((1 << 1) | (1 << 2) | (1 << 3) | (1 << 4)), "child_connection_lost for each mapped fd");
    }

    /* A pty turns \n into \r\n. */
    {
        const char *argv[] = {"sh", "-c", "printf 'a\\nb\\n'", NULL};
        rec_init(&r, reactor);
        s = reactor_spawn_process(reactor, "/bin/sh", argv, NULL, NULL, NULL, 0, true, &p, &r, &t);
        check(s == MARLINE_OK, "spawn on a pty");
        check(process_set_window_size(t, 40, 120) == MARLINE_OK, "process_set_window_size on a pty");
        check(process_close_child_fd(t, 0) == MARLINE_ERR_NOT_SUPPORTED, "close_child_fd on a pty: NOT_SUPPORTED");
        run_until_ended(&r);
        check(r.out_len == 6 && memcmp(r.out, "a\r\nb\r\n", 6) == 0, "pty output has \\r\\n");
        check(r.kind == MARLINE_REASON_DONE, "pty process DONE");
    }

    /* reactor_spawn_process_with: signals, sessions and the options ABI. */
    {
        marline_spawn_options_t o;
        unsigned char bigger[sizeof o + 16];
        const unsigned long long usr1 = 1ULL << (SIGUSR1 - 1);
        int32_t pid = 0;
        signal(SIGUSR1, SIG_IGN);
        check(cat_with(reactor, "/proc/self/status", NULL, &r) == MARLINE_OK, "spawn with NULL options");
        check((status_mask(r.out, "SigIgn:") & usr1) == 0, "a signal ignored here is at its default in the child");
        MARLINE_INIT(&o);
        o.flags = MARLINE_SPAWN_KEEP_IGNORED_SIGNALS;
        check(cat_with(reactor, "/proc/self/status", &o, &r) == MARLINE_OK, "spawn with KEEP_IGNORED_SIGNALS");
        check((status_mask(r.out, "SigIgn:") & usr1) == usr1, "KEEP_IGNORED_SIGNALS: it stays ignored");
        signal(SIGUSR1, SIG_DFL);

        o.flags = MARLINE_SPAWN_NEW_SESSION;
        check(cat_with(reactor, "/proc/self/stat", &o, &r) == MARLINE_OK, "spawn with NEW_SESSION");
        check(stat_field(r.out, 3) == stat_field(r.out, 4) && stat_field(r.out, 4) == atol(r.out), "NEW_SESSION: its own session and group");
        o.flags = MARLINE_SPAWN_NEW_PROCESS_GROUP;
        check(cat_with(reactor, "/proc/self/stat", &o, &r) == MARLINE_OK, "spawn with NEW_PROCESS_GROUP");
        check(stat_field(r.out, 3) == atol(r.out) && stat_field(r.out, 4) == getsid(0), "NEW_PROCESS_GROUP: its own group in our session");
        o.flags = 0;
        check(cat_with(reactor, "/proc/self/stat", &o, &r) == MARLINE_OK && stat_field(r.out, 3) == getpgrp(), "by default: our group");

        /* process_signal_group reaches the child's group; refused without one. */
        rec_init(&r, reactor);
        check(spawn_sh(reactor, "exec sleep 100", &r, &t) == MARLINE_OK, "spawn sleep in our group");
        check(process_signal_group(t, SIGTERM) == MARLINE_ERR_NOT_SUPPORTED, "signal_group without a group of its own: NOT_SUPPORTED");
        check(process_signal(t, SIGKILL) == MARLINE_OK, "kill it");
        run_until_ended(&r);
        {
            const char *argv[] = {"sleep", "100", NULL};
            marline_process_protocol_t p2 = table();
            o.flags = MARLINE_SPAWN_NEW_SESSION;
            rec_init(&r, reactor);
            check(reactor_spawn_process_with(reactor, "sleep", argv, &o, &p2, &r, &t) == MARLINE_OK, "spawn sleep in a new session");
            check(process_get_pid(t, &pid) == MARLINE_OK, "its pid");
            check(process_signal_group(t, 0) == MARLINE_ERR_UNKNOWN_SIGNAL, "signal_group(0): UNKNOWN_SIGNAL");
            check(process_signal_group(t, SIGTERM) == MARLINE_OK, "process_signal_group(TERM)");
            run_until_ended(&r);
            check(r.kind == MARLINE_REASON_TERMINATED && r.sig == SIGTERM, "the group's SIGTERM ended it");
        }

        /* The ABI rule of the options struct. */
        o.flags = 0;
        o.size = 0;
        check(cat_with(reactor, "/dev/null", &o, &r) == MARLINE_ERR_INVALID_ARGUMENT, "size 0: INVALID_ARGUMENT");
        o.size = sizeof o;
        o.flags = 1u << 20;
        check(cat_with(reactor, "/dev/null", &o, &r) == MARLINE_ERR_INVALID_ARGUMENT, "an unknown flag: INVALID_ARGUMENT");
        o.flags = 0;
        o.rows = 24;
        check(cat_with(reactor, "/dev/null", &o, &r) == MARLINE_ERR_INVALID_ARGUMENT, "a window size without a pty: INVALID_ARGUMENT");
        o.rows = 0;
        memset(bigger, 0, sizeof bigger);
        o.size = sizeof bigger;
        memcpy(bigger, &o, sizeof o);
        check(cat_with(reactor, "/dev/null", (const marline_spawn_options_t *)(void *)bigger, &r) == MARLINE_OK, "a newer, larger struct with zero extra fields: OK");
        bigger[sizeof o + 3] = 1;
        check(cat_with(reactor, "/dev/null", (const marline_spawn_options_t *)(void *)bigger, &r) == MARLINE_ERR_INVALID_ARGUMENT, "a newer option this library does not know: INVALID_ARGUMENT");
        o.size = sizeof(size_t);
        o.flags = MARLINE_SPAWN_NEW_SESSION; /* beyond size: not read */
        check(cat_with(reactor, "/proc/self/stat", &o, &r) == MARLINE_OK && stat_field(r.out, 3) == getpgrp(), "an older, smaller struct: defaults for the rest");
    }

    /* The host reaps the child itself: its status is gone, and the reason
     * says so instead of making one up. */
    {
        int32_t pid = 0;
        int status = 0;
        rec_init(&r, reactor);
        check(spawn_sh(reactor, "exit 3", &r, &t) == MARLINE_OK, "spawn sh exit 3");
        check(process_get_pid(t, &pid) == MARLINE_OK, "its pid");
        check(waitpid(pid, &status, 0) == pid && WEXITSTATUS(status) == 3, "the host reaps it first");
        run_until_ended(&r);
        check(r.exited == 1 && r.ended == 1, "process_exited and process_ended still come");
        check(r.kind == MARLINE_REASON_EXIT_STATUS_UNKNOWN, "the reason is EXIT_STATUS_UNKNOWN");
        check(r.code == -1 && r.sig == -1 && r.status == -1, "no exit code, signal or wait status is made up");
    }

    /* A grandchild holding stdout: exited comes before ended. */
    rec_init(&r, reactor);
    check(spawn_sh(reactor, "(sleep 0.3; echo late) & exit 0", &r, &t) == MARLINE_OK, "spawn with a grandchild");
    {
        int i;
        for (i = 0; i < 500 && !r.exited; i++) {
            reactor_run_once(reactor, 0.02);
        }
    }
    check(r.exited == 1 && r.ended == 0, "process_exited while the grandchild holds the pipe");
    run_until_ended(&r);
    check(r.ended == 1 && r.out_len == 5 && memcmp(r.out, "late\n", 5) == 0, "process_ended after the grandchild's output");

    check(reactor_free(reactor) == MARLINE_OK, "reactor_free");
    return check_summary();
}
