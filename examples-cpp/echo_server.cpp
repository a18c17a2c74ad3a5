// echo_server [PORT]: the C++ twin of examples-c/echo_server.c, written with the
// marline.hpp wrapper. Listens on 127.0.0.1:PORT (0 or absent: a free port), prints
// "listening on 127.0.0.1:PORT" as its first line, turns TCP_NODELAY on for every
// connection and echoes every byte until killed, not reading from a peer that does
// not read its echo (flow control). Exit 2: usage; 1: cannot listen.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "marline.hpp"

static int parse_port(const char *text) {
    char *end = nullptr;
    long port = std::strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || port < 0 || port > 65535) {
        return -1;
    }
    return static_cast<int>(port);
}

int main(int argc, char **argv) {
    int port = 0;
    if (argc > 2 || (argc == 2 && (port = parse_port(argv[1])) < 0)) {
        std::fprintf(stderr, "usage: echo_server [PORT]   (PORT 0-65535; 0 picks a free port)\n");
        return 2;
    }
    try {
        marline::Reactor reactor;
        marline::Protocol echo;
        echo.on_connection_made = [](marline::Transport t) {
            t.set_tcp_nodelay(true);
            t.register_reading_as_producer();
        };
        echo.on_data = [](marline::Transport t, std::string_view data) {
            std::error_code ec;
            t.write(data, ec);
            if (ec) {
                std::fprintf(stderr, "echo_server: write failed: %s\n", ec.message().c_str());
            }
        };
        marline::ListeningPort listening;
        try {
            listening = reactor.listen_tcp("127.0.0.1", port, echo);
        } catch (const marline::error &e) {
            std::fprintf(stderr, "echo_server: cannot listen on 127.0.0.1:%d: %s\n", port, e.code().message().c_str());
            return 1;
        }
        std::printf("listening on 127.0.0.1:%d\n", listening.port());
        std::fflush(stdout);
        reactor.run();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "echo_server: %s\n", e.what());
        return 1;
    }
    return 0;
}
