# marline: build the library and the C examples, run the demo, run the tests.
#   make          build libmarline (release) and every example into build/
#   make demo     build, then run the examples against each other
#   make test     install missing tools (saying what), then run every test;
#                 as root, as CI runs it: no test may skip
#   make check    run every test without installing anything (any user;
#                 tests that need root skip with a message)
#   make header   regenerate include/marline.h from the Rust sources
#   make install  install the stripped libraries (debug info apart), headers,
#                 marline.pc and marline-static.pc under PREFIX
#                 (default /usr/local; DESTDIR is honoured)
#   make api-doc  regenerate docs/API.md from include/marline.h
#   make abi      bless abi/marline.abi after a deliberate ABI change (refused
#                 for a break unless the soname was bumped; README "ABI policy")

CARGO    ?= cargo
CC       ?= cc
BUILD    := build
# Where cargo puts the release build: the examples link it, install copies it.
RELEASE  := $(or $(CARGO_TARGET_DIR),target)/release
LIB      := $(RELEASE)/libmarline.a
VERSION  := $(shell awk -F'"' '/^\[/ {p = ($$0 == "[package]")} p && /^version *=/ {print $$2; exit}' Cargo.toml)
# The soname's version, as build.rs gives it: 0.MINOR while the version is
# 0.x (any 0.x release may break the ABI), MAJOR from 1.0 on.
VPARTS   := $(subst ., ,$(VERSION))
SOVER    := $(if $(filter 0,$(word 1,$(VPARTS))),0.$(word 2,$(VPARTS)),$(word 1,$(VPARTS)))
# What the static library needs besides itself, as rustc printed it for this
# build (--print native-static-libs); read when a recipe runs, after the build.
NATIVE_LIBS_FILE := $(RELEASE)/native-static-libs.txt
NATIVE_LIBS = $(shell cat $(NATIVE_LIBS_FILE))
CFLAGS   := -std=c99 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude
LDLIBS    = $(NATIVE_LIBS)
EXAMPLES := $(patsubst examples-c/%.c,$(BUILD)/%,$(wildcard examples-c/*.c))
CXX      ?= g++
CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Werror -pedantic -Iinclude
CPP_EXAMPLES := $(patsubst examples-cpp/%.cpp,$(BUILD)/%_cpp,$(wildcard examples-cpp/*.cpp))

.PHONY: all lib demo test check deps header clean install uninstall api-doc abi FORCE

all: $(EXAMPLES) $(CPP_EXAMPLES)

lib: $(LIB)

# Cargo decides whether the library is stale; the recipe always runs, and
# make then compares the file's new time with the examples'. The soname link
# lets programs linked with -L$(RELEASE) -lmarline start from the tree.
$(LIB): FORCE
	$(CARGO) rustc --release --lib -- --print native-static-libs=$(abspath $(NATIVE_LIBS_FILE))
	@test -s $(NATIVE_LIBS_FILE) || { echo "$(NATIVE_LIBS_FILE) is missing: cargo clean --release, then make" >&2; exit 1; }
	ln -sfn libmarline.so $(RELEASE)/libmarline.so.$(SOVER)

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

# Both run every test binary and end with a summary (scripts/run-tests.sh).
test: deps
	MARLINE_NO_SKIP=1 scripts/run-tests.sh

check:
	scripts/run-tests.sh

header:
	MARLINE_BLESS=1 $(CARGO) test --test header
	python3 scripts/api-doc.py > docs/API.md

clean:
	rm -rf $(BUILD)
	$(CARGO) clean

# ---- install ----
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
LDCONFIG   ?= /sbin/ldconfig
REAL       := libmarline.so.$(VERSION)
PC_SUBST    = -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
              -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
              -e 's|@NATIVE_LIBS@|$(NATIVE_LIBS)|g'

# The shared library is installed stripped, its debug info beside it in
# .debug/ (where gdb looks, by the library's .gnu_debuglink); the archive
# without its debug info. The loader's cache is refreshed when the library
# goes straight into one of the loader's directories (not under DESTDIR).
install: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(LIBDIR)/.debug $(DESTDIR)$(INCLUDEDIR)
	objcopy --only-keep-debug $(RELEASE)/libmarline.so $(DESTDIR)$(LIBDIR)/.debug/$(REAL).debug
	chmod 644 $(DESTDIR)$(LIBDIR)/.debug/$(REAL).debug
	objcopy --strip-unneeded --add-gnu-debuglink=$(DESTDIR)$(LIBDIR)/.debug/$(REAL).debug \
	    $(RELEASE)/libmarline.so $(DESTDIR)$(LIBDIR)/$(REAL)
	chmod 755 $(DESTDIR)$(LIBDIR)/$(REAL)
	ln -sfn $(REAL) $(DESTDIR)$(LIBDIR)/libmarline.so.$(SOVER)
	ln -sfn libmarline.so.$(SOVER) $(DESTDIR)$(LIBDIR)/libmarline.so
	objcopy --strip-debug $(LIB) $(DESTDIR)$(LIBDIR)/libmarline.a
	chmod 644 $(DESTDIR)$(LIBDIR)/libmarline.a
	install -m 644 include/marline.h include/marline.hpp $(DESTDIR)$(INCLUDEDIR)/
	sed $(PC_SUBST) marline.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/marline.pc
	sed $(PC_SUBST) marline-static.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/marline-static.pc
	@if [ -z "$(DESTDIR)" ] && $(LDCONFIG) -v -N -X 2>/dev/null | grep -q '^$(LIBDIR):'; then \
	    echo "$(LDCONFIG)   # $(LIBDIR) is one of the loader's directories"; $(LDCONFIG); fi

uninstall:
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,libmarline.so libmarline.so.$(SOVER) $(REAL) \
	    .debug/$(REAL).debug libmarline.a pkgconfig/marline.pc pkgconfig/marline-static.pc) \
	    $(DESTDIR)$(INCLUDEDIR)/marline.h $(DESTDIR)$(INCLUDEDIR)/marline.hpp

api-doc:
	python3 scripts/api-doc.py > docs/API.md

abi:
	MARLINE_BLESS=1 $(CARGO) test --test abi

# make bench: every benchmark side by side (bench/run.py; BENCH_QUICK=1 for
# a smoke run); prints the table, writes bench/results/latest.{md,json,png}.
.PHONY: bench
bench: all
	python3 bench/run.py
