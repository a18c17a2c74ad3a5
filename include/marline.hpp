/* marline.hpp: a header-only C++17 wrapper over marline.h.
 *
 *   marline::Reactor reactor;                       // owns a reactor_t (RAII)
 *   marline::Protocol echo;
 *   echo.on_data = [](marline::Transport t, std::string_view d) { t.write(d); };
 *   auto port = reactor.listen_tcp("127.0.0.1", 0, echo);   // stops when destroyed
 *   auto timer = reactor.call_later(5.0, [&] { reactor.stop(); });
 *   reactor.run();
 *
 * Errors. Every call that fails throws marline::error, a std::system_error whose code()
 * is in marline::category() (value = the marline_status_t number, message =
 * marline_strerror); `e.status()` gives the marline_status_t. Calls likely to meet a
 * connection that is already going (Transport::write, lose_connection,
 * abort_connection) also have a noexcept overload that takes a std::error_code& instead
 * of throwing. A global make_error_code(marline_status_t) is provided, so statuses compare with
 * error codes directly.
 *
 * Exceptions and callbacks. C frames are on the stack while a callback runs, so no
 * exception may cross them: an exception escaping one of your callbacks is caught at the
 * boundary, the reactor is stopped, and Reactor::run() (or run_once()) rethrows it once
 * the loop has returned. Only the first such exception is kept.
 *
 * Ownership. Reactor owns the loop and everything it allocated for your callbacks; it is
 * movable, not copyable, and frees the loop (delivering connection_lost to every open
 * connection) when destroyed. Transport is a non-owning view (a checked handle: using it
 * after its connection is gone throws marline::error with MARLINE_ERR_STALE_HANDLE, it
 * never crashes). ListeningPort owns the listening socket and stops it when destroyed.
 * DelayedCall is a copyable handle; dropping it does not cancel the call.
 *
 * Threads. As in C: a Reactor and everything from it belong to the thread that created
 * it, except Reactor::stop() and Reactor::call_from_thread(), which are thread-safe.
 */
#ifndef MARLINE_HPP
#define MARLINE_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "marline.h"

/// marline_status_t values convert to std::error_code (make_error_code below), so
/// `ec == MARLINE_ERR_STALE_HANDLE` works.
namespace std {
template <>
struct is_error_code_enum<marline_status_t> : true_type {};
}  // namespace std

namespace marline {

/* ----- errors ----- */

/// The error category of marline statuses: value() is the marline_status_t number.
class error_category_impl final : public std::error_category {
public:
    const char *name() const noexcept override { return "marline"; }
    std::string message(int code) const override { return marline_strerror(code); }
};

/// The one instance of marline's error category.
inline const std::error_category &category() noexcept {
    static const error_category_impl instance;
    return instance;
}

}  // namespace marline

/// A std::error_code for a marline status (global, like marline_status_t, so that
/// argument-dependent lookup finds it).
inline std::error_code make_error_code(marline_status_t status) noexcept {
    return std::error_code(static_cast<int>(status), marline::category());
}

namespace marline {

/// What every failing wrapper call throws. Made right after the failed C call, on its
/// thread, so it also holds the errno behind the failure (marline_last_os_error).
class error : public std::system_error {
public:
    error(marline_status_t status, const std::string &what)
        : std::system_error(::make_error_code(status), what), status_(status), os_error_(marline_last_os_error()) {}
    /// The marline_status_t the C call returned.
    marline_status_t status() const noexcept { return status_; }
    /// The errno of the system call behind the failure, or 0 when none failed.
    int os_error() const noexcept { return os_error_; }

private:
    marline_status_t status_;
    int os_error_;
};

namespace detail {

inline void check(marline_status_t status, const char *what) {
    if (status != MARLINE_OK) {
        throw error(status, what);
    }
}

inline std::error_code code_of(marline_status_t status) noexcept {
    return status == MARLINE_OK ? std::error_code() : ::make_error_code(status);
}

}  // namespace detail

/* ----- plain values ----- */

/// Why a connection ended, copied out of the callback (so it may be kept).
struct Reason {
    marline_reason_kind_t kind = MARLINE_REASON_INVALID;
    std::string message;
    int error_number = 0;  ///< the errno behind the reason, or 0

    static Reason from(const marline_reason_t *r) {
        Reason out;
        out.kind = marline_reason_kind(r);
        out.message = marline_reason_message(r);
        out.error_number = marline_reason_errno(r);
        return out;
    }
    /// True for a clean close (MARLINE_REASON_DONE).
    bool clean() const noexcept { return kind == MARLINE_REASON_DONE; }
};

namespace detail {

inline std::string take_address(marline_address_t *a) {
    std::string text = marline_address_string(a);
    marline_address_free(a);
    return text;
}

}  // namespace detail

/* ----- Transport: a view of one connection ----- */

/// A non-owning, checked view of a transport_t. Cheap to copy; valid as a handle until
/// its connection_lost / connection_failed callback returns, after which every call
/// throws marline::error (MARLINE_ERR_STALE_HANDLE).
class Transport {
public:
    Transport() noexcept = default;
    explicit Transport(transport_t *t) noexcept : t_(t) {}

    /// The C handle, for calls the wrapper does not cover.
    transport_t *handle() const noexcept { return t_; }

    /// Writes bytes (never blocks; what the kernel does not take is queued).
    void write(std::string_view data) { detail::check(write_raw(data.data(), data.size()), "transport_write"); }
    void write(const void *data, std::size_t len) { detail::check(write_raw(data, len), "transport_write"); }
    /// As write(), reporting failure through `ec` instead of throwing.
    void write(std::string_view data, std::error_code &ec) noexcept {
        ec = detail::code_of(write_raw(data.data(), data.size()));
    }

    /// Flushes what is queued, then closes (connection_lost follows with a clean reason).
    void lose_connection() { detail::check(transport_lose_connection(t_), "transport_lose_connection"); }
    void lose_connection(std::error_code &ec) noexcept { ec = detail::code_of(transport_lose_connection(t_)); }

    /// Half-close: shuts down the sending side once the queue has drained.
    void lose_write_connection() {
        detail::check(transport_lose_write_connection(t_), "transport_lose_write_connection");
    }

    /// Discards the queue and resets the connection.
    void abort_connection() { detail::check(transport_abort_connection(t_), "transport_abort_connection"); }
    void abort_connection(std::error_code &ec) noexcept { ec = detail::code_of(transport_abort_connection(t_)); }

    /// The local address, e.g. "127.0.0.1:4000".
    std::string host() const {
        marline_address_t *a = nullptr;
        detail::check(transport_get_host(t_, &a), "transport_get_host");
        return detail::take_address(a);
    }

    /// The peer's address, e.g. "127.0.0.1:51234".
    std::string peer() const {
        marline_address_t *a = nullptr;
        detail::check(transport_get_peer(t_, &a), "transport_get_peer");
        return detail::take_address(a);
    }

    /// Bytes written but not yet taken by the kernel.
    std::size_t write_queue_size() const {
        std::size_t n = 0;
        detail::check(transport_get_write_queue_size(t_, &n), "transport_get_write_queue_size");
        return n;
    }

    void set_tcp_nodelay(bool on) { detail::check(transport_set_tcp_nodelay(t_, on), "transport_set_tcp_nodelay"); }
    bool tcp_nodelay() const {
        bool on = false;
        detail::check(transport_get_tcp_nodelay(t_, &on), "transport_get_tcp_nodelay");
        return on;
    }

    /// Stop / start reading (the transport as a producer).
    void pause_producing() { detail::check(transport_pause_producing(t_), "transport_pause_producing"); }
    void resume_producing() { detail::check(transport_resume_producing(t_), "transport_resume_producing"); }
    /// Flow control: reading pauses while the write queue is past the
    /// high-water mark (transport_register_reading_as_producer).
    void register_reading_as_producer() {
        detail::check(transport_register_reading_as_producer(t_), "transport_register_reading_as_producer");
    }
    void unregister_producer() { detail::check(transport_unregister_producer(t_), "transport_unregister_producer"); }
    void set_write_high_water(std::size_t bytes) {
        detail::check(transport_set_write_high_water(t_, bytes), "transport_set_write_high_water");
    }

    friend bool operator==(const Transport &a, const Transport &b) noexcept { return a.t_ == b.t_; }
    friend bool operator!=(const Transport &a, const Transport &b) noexcept { return a.t_ != b.t_; }

private:
    marline_status_t write_raw(const void *data, std::size_t len) noexcept {
        return transport_write(t_, static_cast<const uint8_t *>(data), len);
    }

    transport_t *t_ = nullptr;
};

/* ----- Protocol: callbacks as std::function ----- */

/// The callbacks of one connection. Every member may be empty (the event is ignored).
/// For a listening port each accepted connection gets its own copy (or, with a factory,
/// its own freshly made Protocol), so state captured by value is per connection.
struct Protocol {
    std::function<void(Transport)> on_connection_made;
    std::function<void(Transport, std::string_view)> on_data;
    /// Fires exactly once; the Transport is stale once it returns.
    std::function<void(Transport, const Reason &)> on_connection_lost;
    /// A client connection could not be made (instead of on_connection_lost).
    std::function<void(Transport, const Reason &)> on_connection_failed;
};

class Reactor;

namespace detail {

struct Node;

/// Everything the Reactor allocated for C to call back into, at a stable address (the
/// Reactor may move; its State does not).
struct State {
    reactor_t *reactor = nullptr;
    std::exception_ptr pending;
    /// Listening ports' and connections' contexts, by address. A port's context is kept
    /// until the reactor goes (an accepted connection names it until its first
    /// callback); a connection's goes after its connection_lost / connection_failed.
    std::unordered_map<const Node *, std::unique_ptr<Node>> nodes;
    /// Delayed calls not yet run or cancelled, by id.
    std::unordered_map<std::uint64_t, std::unique_ptr<struct Timer>> timers;
    std::uint64_t next_timer = 1;

    /// Runs a callback body; an exception is kept for run() and stops the loop.
    template <typename F>
    void shield(F &&f) noexcept {
        try {
            f();
        } catch (...) {
            if (!pending) {
                pending = std::current_exception();
            }
            (void)reactor_stop(reactor);
        }
    }
};

/// What a `void *user` given to C points to: always a Node (a Listener or a Connection).
struct Node {
    enum class Kind { listener, connection };
    Node(Kind k, State *s) noexcept : kind(k), state(s) {}
    virtual ~Node() = default;
    Kind kind;
    State *state;
};

struct Listener final : Node {
    Listener(State *s, std::function<Protocol()> f) : Node(Kind::listener, s), factory(std::move(f)) {}
    std::function<Protocol()> factory;
};

struct Connection final : Node {
    Connection(State *s, Protocol p) : Node(Kind::connection, s), protocol(std::move(p)) {}
    Protocol protocol;
};

inline void *as_user(Node *n) noexcept { return n; }

/// Accepted connections start with their port's Listener as user pointer; the first
/// callback swaps in a Connection of their own (registered before the factory runs, so a
/// throwing factory leaves a Connection that ignores its events).
inline Connection *connection_of(transport_t *t, void *user) {
    Node *n = static_cast<Node *>(user);
    if (n->kind == Node::Kind::connection) {
        return static_cast<Connection *>(n);
    }
    Listener *l = static_cast<Listener *>(n);
    auto owned = std::make_unique<Connection>(l->state, Protocol{});
    Connection *c = owned.get();
    l->state->nodes.emplace(c, std::move(owned));
    (void)transport_set_user(t, as_user(c));
    c->protocol = l->factory();
    return c;
}

inline State *state_of(void *user) noexcept { return static_cast<Node *>(user)->state; }

inline void on_made(transport_t *t, void *user) {
    state_of(user)->shield([&] {
        Connection *c = connection_of(t, user);
        if (c->protocol.on_connection_made) {
            c->protocol.on_connection_made(Transport(t));
        }
    });
}

inline void on_data(transport_t *t, const uint8_t *data, std::size_t len, void *user) {
    state_of(user)->shield([&] {
        Connection *c = connection_of(t, user);
        if (c->protocol.on_data) {
            c->protocol.on_data(Transport(t), std::string_view(reinterpret_cast<const char *>(data), len));
        }
    });
}

inline void on_ended(transport_t *t, const marline_reason_t *reason, void *user, bool failed) {
    State *s = state_of(user);
    Connection *c = nullptr;
    s->shield([&] {
        c = connection_of(t, user);
        auto &cb = failed ? c->protocol.on_connection_failed : c->protocol.on_connection_lost;
        if (cb) {
            cb(Transport(t), Reason::from(reason));
        }
    });
    if (c != nullptr) {
        s->nodes.erase(c);  // the transport is stale from now on
    }
}

inline void on_lost(transport_t *t, const marline_reason_t *reason, void *user) { on_ended(t, reason, user, false); }
inline void on_failed(transport_t *t, const marline_reason_t *reason, void *user) { on_ended(t, reason, user, true); }

inline marline_protocol_t table() noexcept {
    marline_protocol_t p{};
    p.size = sizeof p;
    p.connection_made = on_made;
    p.data_received = on_data;
    p.connection_lost = on_lost;
    p.connection_failed = on_failed;
    return p;
}

/// A delayed call's function, owned by State::timers until it runs or is cancelled (a
/// call that never runs is freed with the reactor).
struct Timer {
    State *state;
    std::uint64_t id;
    std::function<void()> fn;
};

inline void on_timer(reactor_t *, void *user) {
    Timer *timer = static_cast<Timer *>(user);
    State *s = timer->state;
    auto it = s->timers.find(timer->id);
    if (it == s->timers.end()) {
        return;
    }
    std::unique_ptr<Timer> owned = std::move(it->second);
    s->timers.erase(it);
    s->shield([&] { owned->fn(); });
}

/// A call queued from another thread: owns itself until it runs. (One still queued when
/// its reactor is destroyed is leaked: marline drops it without calling back.)
struct ThreadCall {
    State *state;
    std::function<void()> fn;
};

inline void on_thread_call(reactor_t *, void *user) {
    std::unique_ptr<ThreadCall> call(static_cast<ThreadCall *>(user));
    call->state->shield([&] { call->fn(); });
}

}  // namespace detail

/* ----- DelayedCall ----- */

/// A handle to a call scheduled with Reactor::call_later. Copyable; dropping it does not
/// cancel the call.
class DelayedCall {
public:
    DelayedCall() noexcept = default;

    /// Cancels the call; throws marline::error (MARLINE_ERR_NOT_ACTIVE) if it already ran
    /// or was cancelled.
    void cancel() {
        detail::check(delayed_call_cancel(call_), "delayed_call_cancel");
        // Cancelled: C will never call on_timer, so the function goes now.
        state_->timers.erase(id_);
    }

    /// True while the call has neither run nor been cancelled.
    bool active() const noexcept { return call_ != nullptr && delayed_call_active(call_); }

    /// Re-schedules the call `seconds` from now.
    void reset(double seconds) { detail::check(delayed_call_reset(call_, seconds), "delayed_call_reset"); }

    /// Seconds left before the call runs.
    double time_left() const {
        double left = 0;
        detail::check(delayed_call_get_time_left(call_, &left), "delayed_call_get_time_left");
        return left;
    }

    delayed_call_t *handle() const noexcept { return call_; }

private:
    friend class Reactor;
    DelayedCall(delayed_call_t *call, detail::State *state, std::uint64_t id) noexcept
        : call_(call), state_(state), id_(id) {}

    delayed_call_t *call_ = nullptr;
    detail::State *state_ = nullptr;
    std::uint64_t id_ = 0;
};

/* ----- ListeningPort ----- */

/// A listening TCP port; stops listening when destroyed (or on stop()). Movable.
class ListeningPort {
public:
    ListeningPort() noexcept = default;
    explicit ListeningPort(listening_port_t *p) noexcept : p_(p) {}
    ListeningPort(ListeningPort &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    ListeningPort &operator=(ListeningPort &&o) noexcept {
        if (this != &o) {
            close();
            p_ = std::exchange(o.p_, nullptr);
        }
        return *this;
    }
    ListeningPort(const ListeningPort &) = delete;
    ListeningPort &operator=(const ListeningPort &) = delete;
    ~ListeningPort() { close(); }

    /// The bound port number.
    int port() const {
        int32_t port = 0;
        detail::check(listening_port_get_port(p_, &port), "listening_port_get_port");
        return port;
    }

    /// The bound address, e.g. "127.0.0.1:4000".
    std::string host() const {
        marline_address_t *a = nullptr;
        detail::check(listening_port_get_host(p_, &a), "listening_port_get_host");
        return detail::take_address(a);
    }

    /// Stops listening now (accepted connections are left alone).
    void stop() {
        listening_port_t *p = std::exchange(p_, nullptr);
        detail::check(listening_port_stop(p), "listening_port_stop");
    }

    listening_port_t *handle() const noexcept { return p_; }

private:
    void close() noexcept {
        if (p_ != nullptr) {
            // Fails harmlessly (stale handle) if the reactor is already gone.
            (void)listening_port_stop(std::exchange(p_, nullptr));
        }
    }

    listening_port_t *p_ = nullptr;
};

/* ----- Reactor ----- */

/// The event loop. Owns a reactor_t and everything allocated for its callbacks.
class Reactor {
public:
    /// Creates a reactor owned by the calling thread.
    Reactor() : state_(std::make_unique<detail::State>()) {
        detail::check(reactor_new(&state_->reactor), "reactor_new");
    }
    Reactor(Reactor &&) noexcept = default;
    Reactor &operator=(Reactor &&o) noexcept {
        if (this != &o) {
            destroy();
            state_ = std::move(o.state_);
        }
        return *this;
    }
    Reactor(const Reactor &) = delete;
    Reactor &operator=(const Reactor &) = delete;
    ~Reactor() { destroy(); }

    reactor_t *handle() const noexcept { return state_->reactor; }

    /// Runs until stop(); rethrows the first exception a callback let escape.
    void run() {
        marline_status_t s = reactor_run(state_->reactor);
        rethrow();
        detail::check(s, "reactor_run");
    }

    /// One loop turn, waiting up to `timeout_seconds` (0: poll, negative: no limit).
    void run_once(double timeout_seconds) {
        marline_status_t s = reactor_run_once(state_->reactor, timeout_seconds);
        rethrow();
        detail::check(s, "reactor_run_once");
    }

    /// Makes run() return at its next turn. Thread-safe.
    void stop() { detail::check(reactor_stop(state_->reactor), "reactor_stop"); }

    /// Listens on `interface`:`port` (0: a free port); each accepted connection gets a
    /// copy of `protocol`.
    [[nodiscard]] ListeningPort listen_tcp(const std::string &interface, int port, Protocol protocol,
                                           int backlog = 0) {
        return listen_tcp(interface, port, std::function<Protocol()>([protocol] { return protocol; }), backlog);
    }

    /// Listens; each accepted connection gets the Protocol `factory()` returns.
    [[nodiscard]] ListeningPort listen_tcp(const std::string &interface, int port,
                                           std::function<Protocol()> factory, int backlog = 0) {
        auto l = std::make_unique<detail::Listener>(state_.get(), std::move(factory));
        marline_protocol_t table = detail::table();
        listening_port_t *p = nullptr;
        detail::check(reactor_listen_tcp(state_->reactor, interface.c_str(), port, backlog, &table,
                                         detail::as_user(l.get()), &p),
                      "reactor_listen_tcp");
        const detail::Node *key = l.get();
        state_->nodes.emplace(key, std::move(l));
        return ListeningPort(p);
    }

    /// Connects to `host`:`port` (timeout ≤ 0: none). The Transport is usable at once
    /// (writes are queued until the connection is up).
    Transport connect_tcp(const std::string &host, int port, Protocol protocol, double timeout_seconds = 0) {
        auto c = std::make_unique<detail::Connection>(state_.get(), std::move(protocol));
        marline_protocol_t table = detail::table();
        transport_t *t = nullptr;
        detail::check(reactor_connect_tcp(state_->reactor, host.c_str(), port, timeout_seconds, &table,
                                          detail::as_user(c.get()), &t),
                      "reactor_connect_tcp");
        const detail::Node *key = c.get();
        state_->nodes.emplace(key, std::move(c));
        return Transport(t);
    }

    /// Runs `fn` once, `seconds` from now, on the loop.
    DelayedCall call_later(double seconds, std::function<void()> fn) {
        std::uint64_t id = state_->next_timer++;
        auto timer = std::make_unique<detail::Timer>(detail::Timer{state_.get(), id, std::move(fn)});
        delayed_call_t *call = nullptr;
        detail::check(reactor_call_later(state_->reactor, seconds, detail::on_timer, timer.get(), &call),
                      "reactor_call_later");
        state_->timers.emplace(id, std::move(timer));
        return DelayedCall(call, state_.get(), id);
    }

    /// Queues `fn` to run on the loop's thread at its next turn. Thread-safe.
    void call_from_thread(std::function<void()> fn) {
        auto call = std::make_unique<detail::ThreadCall>(detail::ThreadCall{state_.get(), std::move(fn)});
        detail::check(reactor_call_from_thread(state_->reactor, detail::on_thread_call, call.get()),
                      "reactor_call_from_thread");
        call.release();  // on_thread_call owns it now
    }

    /// The epoll descriptor a foreign loop can poll (see reactor_backend_fd).
    int backend_fd() const {
        int32_t fd = -1;
        detail::check(reactor_backend_fd(state_->reactor, &fd), "reactor_backend_fd");
        return fd;
    }

    /// Seconds until the next delayed call is due, or -1 when none is scheduled.
    double next_timeout() const {
        double t = -1;
        detail::check(reactor_next_timeout(state_->reactor, &t), "reactor_next_timeout");
        return t;
    }

private:
    void rethrow() {
        if (state_->pending) {
            std::rethrow_exception(std::exchange(state_->pending, nullptr));
        }
    }

    void destroy() noexcept {
        if (!state_) {
            return;
        }
        // Delivers connection_lost to every open connection (their callbacks still see
        // live state); exceptions from them are dropped.
        (void)reactor_free(state_->reactor);
        state_.reset();  // and with it the functions of calls that never ran
    }

    std::unique_ptr<detail::State> state_;
};

/* ----- logging ----- */

/// Sets the calling thread's log callback (see marline_set_log_callback); an empty
/// function removes it.
inline void set_log_callback(std::function<void(marline_log_level_t, std::string_view)> fn) {
    thread_local std::function<void(marline_log_level_t, std::string_view)> current;
    if (!fn) {
        detail::check(marline_set_log_callback(nullptr, nullptr), "marline_set_log_callback");
        current = nullptr;
        return;
    }
    auto trampoline = [](int level, const char *message, void *user) {
        auto *f = static_cast<std::function<void(marline_log_level_t, std::string_view)> *>(user);
        try {
            (*f)(static_cast<marline_log_level_t>(level), std::string_view(message));
        } catch (...) {
            // Logging must not unwind into C.
        }
    };
    detail::check(marline_set_log_callback(nullptr, nullptr), "marline_set_log_callback");
    current = std::move(fn);
    detail::check(marline_set_log_callback(trampoline, &current), "marline_set_log_callback");
}

}  // namespace marline

#endif /* MARLINE_HPP */
