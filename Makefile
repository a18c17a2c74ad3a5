# marline: build the library and the C examples, run the demo, run the tests.
#   make          build libmarline (release) and every example into build/
#   make demo     build, then run the examples against each other
#   make test     install missing test tools, then run every test
#   make header   regenerate include/marline.h from the Rust sources

CARGO    ?= cargo
CC       ?= cc
BUILD    := build
LIB      := target/release/libmarline.a
CFLAGS   := -std=c99 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude
LDLIBS   := -lpthread -ldl -lm -lutil
EXAMPLES := $(patsubst examples-c/%.c,$(BUILD)/%,$(wildcard examples-c/*.c))

.PHONY: all lib demo test deps header clean

all: $(EXAMPLES)

lib:
	$(CARGO) build --release --lib

$(LIB): lib

$(BUILD)/%: examples-c/%.c $(LIB) include/marline.h | $(BUILD)
	$(CC) $(CFLAGS) $< $(LIB) $(LDLIBS) -o $@

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

clean:
	rm -rf $(BUILD)
	$(CARGO) clean

# make bench: every benchmark side by side (bench/run.py; BENCH_QUICK=1 for
# a smoke run); prints the table, writes bench/results/latest.{md,json,png}.
.PHONY: bench
bench: all
	python3 bench/run.py
