// test_wrapper: the C++ wrapper include/marline.hpp.
//
// Timers run in order and cancel; an echo round trip with lambdas and per-connection
// state; clean connection_lost; stale transports throw (or set an error_code); refused
// connections; exceptions escaping callbacks come out of run(); call_from_thread;
// ListeningPort stops when destroyed; a moved Reactor keeps working; errors carry
// marline statuses.
//
// One line per check ("ok - ..." or "FAIL - ..."), then "N passed, M failed"; exit status
// 0 only if all pass. Built with g++ -std=c++17 -Wall -Wextra -Werror -pedantic and run
// natively and under ASan+UBSan by tests/cpp_wrapper.rs.
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "marline.hpp"

static int passed = 0;
static int failed = 0;

static void check(bool ok, const std::string &what) {
    if (ok) {
        ++passed;
        std::printf("ok - %s\n", what.c_str());
    } else {
        ++failed;
        std::printf("FAIL - %s\n", what.c_str());
    }
    std::fflush(stdout);
}

/// Runs the loop until `done()` or about 5 s pass.
static bool run_until(marline::Reactor &r, const std::function<bool()> &done) {
    for (int i = 0; i < 500 && !done(); ++i) {
        r.run_once(0.01);
    }
    return done();
}

template <typename F>
static marline_status_t status_of(F &&f) {
    try {
        f();
    } catch (const marline::error &e) {
        return e.status();
    }
    return MARLINE_OK;
}

static void timers() {
    marline::Reactor r;
    check(r.backend_fd() >= 0, "backend_fd is a descriptor");
    check(r.next_timeout() == -1.0, "next_timeout is -1 with nothing scheduled");
    std::string order;
    r.call_later(0.03, [&] { order += 'c'; });
    r.call_later(0.01, [&] { order += 'a'; });
    r.call_later(0.02, [&] { order += 'b'; });
    r.call_later(0.02, [&] { order += 'B'; });
    marline::DelayedCall never = r.call_later(0.015, [&] { order += 'X'; });
    check(never.active(), "a scheduled call is active");
    double left = never.time_left();
    check(left > 0 && left <= 0.015, "time_left is within the delay");
    check(r.next_timeout() >= 0 && r.next_timeout() <= 0.01, "next_timeout names the first call");
    never.cancel();
    check(!never.active(), "a cancelled call is not active");
    check(status_of([&] { never.cancel(); }) == MARLINE_ERR_NOT_ACTIVE, "cancelling twice throws MARLINE_ERR_NOT_ACTIVE");
    run_until(r, [&] { return order.size() >= 4; });
    check(order == "abBc", "calls run in time order, ties in scheduling order (got " + order + ")");
    marline::DelayedCall ran = r.call_later(0, [] {});
    run_until(r, [&] { return !ran.active(); });
    check(status_of([&] { ran.reset(1); }) == MARLINE_ERR_NOT_ACTIVE, "resetting a call that ran throws");
    // A call still pending when the reactor goes is freed without running.
    r.call_later(60, [&] { order += 'Z'; });
}

static void echo_round_trip() {
    marline::Reactor r;
    int connections = 0;
    int server_lost = 0;
    // A factory: each connection gets its own byte counter.
    auto factory = [&]() {
        auto count = std::make_shared<std::size_t>(0);
        marline::Protocol p;
        p.on_connection_made = [&](marline::Transport t) {
            ++connections;
            t.set_tcp_nodelay(true);
            t.set_write_high_water(4096);
            t.register_reading_as_producer();
            check(status_of([&] { t.register_reading_as_producer(); }) == MARLINE_ERR_PRODUCER_ALREADY_REGISTERED,
                  "register_reading_as_producer twice throws ALREADY_REGISTERED");
        };
        p.on_data = [count](marline::Transport t, std::string_view d) {
            *count += d.size();
            t.write(d);
        };
        p.on_connection_lost = [&, count](marline::Transport, const marline::Reason &why) {
            if (why.clean() && *count == 5) ++server_lost;
        };
        return p;
    };
    marline::ListeningPort port = r.listen_tcp("127.0.0.1", 0, std::function<marline::Protocol()>(factory));
    check(port.port() > 0, "listen_tcp on a free port (" + std::to_string(port.port()) + ")");
    check(port.host() == "127.0.0.1:" + std::to_string(port.port()), "ListeningPort::host");

    std::string got;
    bool made = false;
    bool lost = false;
    marline::Reason lost_reason;
    std::string peer;
    marline::Protocol client;
    client.on_connection_made = [&](marline::Transport t) {
        made = true;
        peer = t.peer();
        t.write("hello");
    };
    client.on_data = [&](marline::Transport t, std::string_view d) {
        got.append(d);
        if (got.size() == 5) t.lose_connection();
    };
    client.on_connection_lost = [&](marline::Transport, const marline::Reason &why) {
        lost = true;
        lost_reason = why;
    };
    marline::Transport t = r.connect_tcp("127.0.0.1", port.port(), client, 5);
    check(t.handle() != nullptr, "connect_tcp returns a transport at once");
    check(run_until(r, [&] { return lost && server_lost == 1; }), "both sides see connection_lost");
    check(made && peer == port.host(), "connection_made, with the server as peer");
    check(got == "hello", "the echo came back");
    check(lost_reason.clean() && lost_reason.kind == MARLINE_REASON_DONE, "the close was clean");
    check(connections == 1, "the server saw one connection");

    // The transport is stale now: throwing and error_code forms.
    check(status_of([&] { t.write("late"); }) == MARLINE_ERR_STALE_HANDLE, "write on a dead transport throws STALE_HANDLE");
    std::error_code ec;
    t.write("late", ec);
    check(ec == MARLINE_ERR_STALE_HANDLE, "the error_code overload reports it without throwing");
    check(ec.category() == marline::category() && ec.message() == marline_strerror(MARLINE_ERR_STALE_HANDLE),
          "the error_code is in marline's category, with marline_strerror's message");
    t.lose_connection(ec);
    check(static_cast<bool>(ec), "lose_connection(ec) on a dead transport sets ec");

    // Two at once, with the same factory: separate state.
    int done = 0;
    marline::Protocol counting;
    counting.on_connection_made = [](marline::Transport c) { c.write("abcde"); };
    counting.on_data = [&](marline::Transport c, std::string_view) { c.lose_connection(); };
    counting.on_connection_lost = [&](marline::Transport, const marline::Reason &) { ++done; };
    r.connect_tcp("127.0.0.1", port.port(), counting);
    r.connect_tcp("127.0.0.1", port.port(), counting);
    check(run_until(r, [&] { return done == 2 && server_lost == 3; }), "per-connection state from the factory");

    // A second listener on the same port fails with ADDRESS_IN_USE.
    marline_status_t s = status_of([&] { auto again = r.listen_tcp("127.0.0.1", port.port(), client); });
    check(s == MARLINE_ERR_ADDRESS_IN_USE, "listening on a busy port throws ADDRESS_IN_USE");
    try {
        auto again = r.listen_tcp("127.0.0.1", port.port(), client);
    } catch (const marline::error &e) {
        check(e.os_error() == EADDRINUSE, "the error holds the errno behind it (EADDRINUSE)");
    }

    // Destroying the ListeningPort stops it.
    int was = port.port();
    { marline::ListeningPort gone = std::move(port); }
    bool failed_connect = false;
    marline::Reason failure;
    marline::Protocol refused;
    refused.on_connection_failed = [&](marline::Transport, const marline::Reason &why) {
        failed_connect = true;
        failure = why;
    };
    r.connect_tcp("127.0.0.1", was, refused, 5);
    check(run_until(r, [&] { return failed_connect; }), "after ~ListeningPort, connecting fails");
    check(failure.kind == MARLINE_REASON_REFUSED, "with MARLINE_REASON_REFUSED (" + failure.message + ")");
}

static void exceptions_and_threads() {
    marline::Reactor r;
    r.call_later(0, [] { throw std::runtime_error("from a callback"); });
    bool later_ran = false;
    r.call_later(10, [&] { later_ran = true; });
    std::string what;
    try {
        r.run();
    } catch (const std::runtime_error &e) {
        what = e.what();
    }
    check(what == "from a callback", "an exception escaping a callback stops the loop and comes out of run()");
    check(!later_ran, "nothing else ran");

    std::atomic<int> calls{0};
    std::thread other([&] {
        r.call_from_thread([&] { ++calls; });
        r.call_from_thread([&] {
            ++calls;
            r.stop();
        });
    });
    other.join();
    r.run();
    check(calls == 2, "call_from_thread runs on the loop; stop ends run()");

    std::thread stopper([&] { r.stop(); });
    stopper.join();
    r.run();
    check(true, "stop() from another thread ends run()");

    marline::Reactor moved = std::move(r);
    bool ran = false;
    moved.call_later(0, [&] {
        ran = true;
        moved.stop();
    });
    moved.run();
    check(ran, "a moved Reactor keeps working");

    std::error_code ec = make_error_code(MARLINE_ERR_WRONG_THREAD);
    check(ec.value() == 104 && std::string(ec.category().name()) == "marline", "make_error_code(marline_status_t)");
}

static void logging() {
    int heard = 0;
    bool set = status_of([&] { marline::set_log_callback([&](marline_log_level_t, std::string_view) { ++heard; }); }) ==
               MARLINE_OK;
    check(set, "set_log_callback with a lambda");
    check(status_of([] { marline::set_log_callback(nullptr); }) == MARLINE_OK, "set_log_callback(nullptr) removes it");
    check(heard == 0, "nothing was logged");
}

int main() {
    try {
        timers();
        echo_round_trip();
        exceptions_and_threads();
        logging();
    } catch (const std::exception &e) {
        check(false, std::string("unexpected exception: ") + e.what());
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
