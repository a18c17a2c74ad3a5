# marline: build the library and the C examples, run the demo, run the tests.
#   make          build libmarline (release) and every example into build/
#   make demo     build, then run the examples against each other
#   make test     install missing test tools, then run every test
#   make header   regenerate include/marline.h from the Rust sources
#   make install  install the libraries, headers and marline.pc under PREFIX
#                 (default /usr/local; DESTDIR is honoured)
#   make api-doc  regenerate docs/API.md from include/marline.h

CARGO    ?= cargo
CC       ?= cc
BUILD    := build
LIB      := target/release/libmarline.a
CFLAGS   := -std=c99 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude
LDLIBS   := -lpthread -ldl -lm -lutil
EXAMPLES := $(patsubst examples-c/%.c,$(BUILD)/%,$(wildcard examples-c/*.c))
CXX      ?= g++
CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Werror -pedantic -Iinclude
CPP_EXAMPLES := $(patsubst examples-cpp/%.cpp,$(BUILD)/%_cpp,$(wildcard examples-cpp/*.cpp))

.PHONY: all lib demo test deps header clean install uninstall api-doc FORCE

all: $(EXAMPLES) $(CPP_EXAMPLES)

lib: $(LIB)

# Cargo decides whether the library is stale; the recipe always runs, and
# make then compares the file's new time with the examples'.
$(LIB): FORCE
	$(CARGO) build --release --lib

FORCE:

$(BUILD)/%: examples-c/%.c $(LIB) include/marline.h | $(BUILD)
	$(CC) $(CFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(BUILD)/%_cpp: examples-cpp/%.cpp $(LIB) include/marline.h include/marline.hpp | $(BUILD)
	$(CXX) $(CXXFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(BUILD):
	mkdir -p $(BUILD)

demo: all
	scripts/demo.sh

deps:
	scripts/install-deps.sh

test: deps
	$(CARGO) test

header:
	MARLINE_BLESS=1 $(CARGO) test --test header
	python3 scripts/api-doc.py > docs/API.md

clean:
	rm -rf $(BUILD)
	$(CARGO) clean

# ---- install (issue 8) ----
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
RELEASE    := $(or $(CARGO_TARGET_DIR),target)/release
VERSION    := $(shell awk -F'"' '/^\[/ {p = ($$0 == "[package]")} p && /^version *=/ {print $$2; exit}' Cargo.toml)
SOMAJOR    := $(firstword $(subst ., ,$(VERSION)))

install: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 755 $(RELEASE)/libmarline.so $(DESTDIR)$(LIBDIR)/libmarline.so.$(VERSION)
	ln -sfn libmarline.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libmarline.so.$(SOMAJOR)
	ln -sfn libmarline.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libmarline.so
	install -m 644 $(RELEASE)/libmarline.a $(DESTDIR)$(LIBDIR)/libmarline.a
	install -m 644 include/marline.h include/marline.hpp $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    marline.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/marline.pc

uninstall:
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,libmarline.so libmarline.so.$(SOMAJOR) \
	    libmarline.so.$(VERSION) libmarline.a pkgconfig/marline.pc) \
	    $(DESTDIR)$(INCLUDEDIR)/marline.h $(DESTDIR)$(INCLUDEDIR)/marline.hpp

api-doc:
	python3 scripts/api-doc.py > docs/API.md

# make bench: every benchmark side by side (bench/run.py; BENCH_QUICK=1 for
# a smoke run); prints the table, writes bench/results/latest.{md,json,png}.
.PHONY: bench
bench: all
	python3 bench/run.py
