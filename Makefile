# igdd — build, test, demo. See README.md.
#
#   make deps    install what is missing (Debian packages) and build pupnp 1.14.20 into .deps/
#   make         build igdd/igdd, igdd/igdctl, pcpd/pcpd (and the per-folder static libraries)
#   make test    deps + build + unit tests (ASan+UBSan) + fuzz smoke + lab integration tests
#   make demo    deps + build + a lab with a real pinhole opening
#   make bench   the benchmarks in tests/bench/ (figures, not pass/fail)
#   make compare the same lab and clients against igdd, then Debian's miniupnpd (figures and ratios)
#   make fuzz    every libFuzzer target for longer (FUZZ_SECONDS, default 300)
#
# Objects go beside their sources for the normal build (B=.), and under .build/<variant>/ for
# the sanitizer (B=.build/san SAN=1) and fuzzing builds.

B        ?= .
SAN      ?=
CC       ?= cc
export PKG_CONFIG_PATH := $(CURDIR)/.deps/pupnp/lib/pkgconfig

PKGS     := libupnp libxml-2.0 libnftnl libmnl jansson libmicrohttpd
# $(shell) does not see exported variables in GNU Make 4.3: pass the path explicitly.
pc        = $(shell PKG_CONFIG_PATH=$(PKG_CONFIG_PATH) pkg-config $(1) $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 \
            -Wno-format-nonliteral
HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
ifeq ($(SAN),1)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
HARDEN   := -fstack-protector-strong -fPIE
LDSAN    := -fsanitize=address,undefined
else
OPT      := -O2 -g
endif
CFLAGS   += -std=gnu11 $(OPT) $(WARN) $(HARDEN) -D_GNU_SOURCE -I. $(call pc,--cflags) -MMD -MP
LDFLAGS  += $(LDSAN) -pie -Wl,-z,relro,-z,now
LDLIBS   += $(call pc,--libs) -lcap -lcrypt -lpthread

FIREWALL_SRC := $(wildcard firewall/*/*.c)   # lib/ nft/ core/ runtime/: one library (README "Architecture")
PCP_SRC      := $(filter-out pcpd/main.c,$(wildcard pcpd/*.c))
WEB_SRC      := $(wildcard web/*.c)
IGDD_SRC     := $(filter-out igdd/main.c igdd/igdctl.c,$(wildcard igdd/*.c))

obj = $(patsubst %.c,$(B)/%.o,$(1))

LIB_FIREWALL := $(B)/firewall/libfirewall.a
LIB_PCP      := $(B)/pcpd/libpcp.a
LIB_WEB      := $(B)/web/libweb.a
LIB_IGDD     := $(B)/igdd/libigdd.a
LIBS         := $(LIB_IGDD) $(LIB_WEB) $(LIB_PCP) $(LIB_FIREWALL)

BINS  := $(B)/igdd/igdd $(B)/igdd/igdctl $(B)/pcpd/pcpd
UNITS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(wildcard tests/unit/check_*.c))

.PHONY: all deps test unit fuzz fuzz-smoke integration demo bench compare clean distclean
all: $(BINS)

deps:
	@sh tests/tools/deps.sh

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB_FIREWALL): $(call obj,$(FIREWALL_SRC))
$(LIB_PCP): $(call obj,$(PCP_SRC))
$(LIB_WEB): $(call obj,$(WEB_SRC))
$(LIB_IGDD): $(call obj,$(IGDD_SRC))
$(LIBS):
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/igdd/igdd: $(B)/igdd/main.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/igdd/igdctl: $(B)/igdd/igdctl.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/pcpd/pcpd: $(B)/pcpd/main.o $(LIB_PCP) $(LIB_FIREWALL)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/unit/%: tests/unit/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS) $(shell PKG_CONFIG_PATH=$(PKG_CONFIG_PATH) pkg-config --libs check)

BENCH_TOOLS := $(B)/tests/bench/nft_bench $(B)/tests/bench/reanchor_bench $(B)/tests/bench/read_bench
$(BENCH_TOOLS): $(B)/tests/bench/%: tests/bench/%.c $(LIB_FIREWALL)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_FIREWALL) $(LDLIBS)
BENCH_TOOLS += $(B)/tests/bench/mem_bench
$(B)/tests/bench/mem_bench: tests/bench/mem_bench.c $(LIB_PCP) $(LIB_FIREWALL)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_PCP) $(LIB_FIREWALL) $(LDLIBS)

# Unit tests (Check, fork per test). CK_RUN_SUITE=name picks one suite.
unit: $(UNITS)
	@set -e; for t in $(UNITS); do echo "== $$t"; $$t; done

# ---- fuzzing: clang + libFuzzer + ASan/UBSan, each target linked with the sources it exercises ----
FUZZ_B     := .build/fuzz
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE -I. \
              $(call pc,--cflags) -Wall -Wextra -Werror
FUZZ_LIBSRC := $(FIREWALL_SRC) $(PCP_SRC) $(WEB_SRC) $(IGDD_SRC)
FUZZERS    := $(patsubst tests/fuzz/%.c,$(FUZZ_B)/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 30

# (o/ emptied first: an object of a source since removed or renamed would otherwise stay in the archive)
$(FUZZ_B)/lib.a: $(FUZZ_LIBSRC)
	@rm -rf $(FUZZ_B)/o && mkdir -p $(FUZZ_B)/o
	rm -f $@
	set -e; for s in $^; do clang $(subst -fsanitize=fuzzer,-fsanitize=fuzzer-no-link,$(FUZZ_FLAGS)) \
	  -c -o $(FUZZ_B)/o/$$(echo $$s | tr / _).o $$s; done
	ar rcs $@ $(FUZZ_B)/o/*.o
$(FUZZ_B)/%: tests/fuzz/%.c $(FUZZ_B)/lib.a
	clang $(FUZZ_FLAGS) -o $@ $< $(FUZZ_B)/lib.a $(call pc,--libs) -lcap -lcrypt -lpthread

fuzz-smoke: $(FUZZERS)
	@sh tests/fuzz/run.sh $(FUZZ_SMOKE_SECONDS) $(FUZZERS)
fuzz: $(FUZZERS)
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

# ---- the two commands ----
test: deps
	sh tests/tools/layers.sh
	$(MAKE) all
	$(MAKE) B=.build/san SAN=1 all unit
	$(MAKE) fuzz-smoke
	IGDD_BUILD=$(CURDIR)/.build/san sh tests/integration/run.sh

integration: all
	sh tests/integration/run.sh

demo: deps
	$(MAKE) all
	sh tests/lab/demo.sh

bench: deps
	$(MAKE) all $(BENCH_TOOLS)
	sh tests/bench/run.sh
	sh tests/bench/pcp_run.sh
	sh tests/bench/devices_run.sh
	sh tests/bench/failover_run.sh
	sh tests/bench/million_run.sh
	sh tests/bench/iwf_run.sh

compare: deps
	$(MAKE) all
	bash tests/bench/compare

clean:
	rm -rf .build tests/out
	find . -path ./.deps -prune -o \( -name '*.o' -o -name '*.a' -o -name '*.d' \) -print | xargs rm -f
	rm -f $(BINS) $(patsubst tests/unit/%.c,tests/unit/%,$(wildcard tests/unit/check_*.c))
distclean: clean
	rm -rf .deps tests/browser/node_modules

-include $(shell find . -path ./.deps -prune -o -name '*.d' -print 2>/dev/null)
