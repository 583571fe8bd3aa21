# hnswsearch: PGXS build.  `make demo` and `make test` are the README's contract.
EXTENSION = hnswsearch
EXTVERSION = 0.5.0
MODULE_big = hnswsearch
SRCS = $(sort $(wildcard src/*.c))
OBJS = $(SRCS:.c=.o)
SRC_HEADERS = $(wildcard src/*.h)
DATA = $(sort $(wildcard sql/$(EXTENSION)--*.sql))
# The install script of the first version and the update scripts: CREATE
# EXTENSION of a later version runs the chain (as contrib modules do), so
# the SQL of each version is written once.  In order, for install-as-vector.
SQL_CHAIN = sql/$(EXTENSION)--0.1.0.sql \
	$(shell ls sql/$(EXTENSION)--*--*.sql 2>/dev/null | sort -V)

# pg_regress inputs: every sql/*.sql that is not an install or upgrade script.
# `:=` so that PGXS's `ifdef REGRESS` is false (no pg_regress run) when empty.
REGRESS := $(sort $(basename $(notdir $(filter-out $(DATA),$(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
PG_CPPFLAGS = -I$(srcdir)/src

# PostgreSQL 15 is the target: use the pg_config on PATH only if it is v15
# (Debian's /usr/bin/pg_config follows the newest installed server-dev).
PG15_CONFIG = /usr/lib/postgresql/15/bin/pg_config
PG_CONFIG ?= $(if $(filter 15.%,$(shell pg_config --version 2>/dev/null)),pg_config,$(PG15_CONFIG))
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else ifneq ($(filter-out demo test bench fuzz deb,$(or $(MAKECMDGOALS),all)),)
# demo/test/bench/fuzz/deb work without it: their scripts install the packages first.
$(error $(PG_CONFIG) not found: apt-get install postgresql-server-dev-15, or run `make test`)
endif

$(OBJS): $(SRC_HEADERS)

# Throwaway-cluster targets; all the logic lives in test/run.sh.
# ARGS are passed on to test/demo.py or bench/run.sh: `make demo ARGS=--exact`.
# `make fuzz` runs only the fuzz tests, 300 s each (HNSW_FUZZ_SECONDS=...,
# HNSW_FUZZ_SEED=..., HNSW_FUZZ_SKIP=..., HNSW_FUZZ_SANITIZE=0|1,
# HNSW_FUZZ_STRICT_REACH=1 on the
# command line reach them, in `make test` too; README "Fuzzing").
.PHONY: indent indent-check demo test bench fuzz
demo test bench fuzz:
	PG_CONFIG='$(PG_CONFIG)' bash test/run.sh $@ $(ARGS)

# `make install-as-vector`: hnswsearch under pgvector's extension name, for
# servers without pgvector, so that `CREATE EXTENSION vector` and pgvector's
# dumps work unchanged (README "Installing under the name vector").  The same
# library; a control file and one install script named for "vector".  Its
# version is the newest pgvector release all of whose SQL objects that
# clients gate on a version hnswsearch provides (README says why).  It
# refuses to replace a vector.control that is not its own (pgvector's).
VECTOR_EXTVERSION = 0.6.2
VECTOR_MARK = hnswsearch installed under the name vector
VECTOR_CONTROL = $(DESTDIR)$(datadir)/extension/vector.control
.PHONY: install-as-vector uninstall-as-vector
install-as-vector: install
	@if [ -f '$(VECTOR_CONTROL)' ] && ! grep -q '$(VECTOR_MARK)' '$(VECTOR_CONTROL)'; then \
		echo '$(VECTOR_CONTROL) is not hnswsearch'"'"'s (pgvector is installed?): not replacing it' >&2; exit 1; fi
	@printf '%s\n' '# $(VECTOR_MARK) (hnswsearch $(EXTVERSION); make install-as-vector)' \
		"comment = 'vector data type and hnsw access method (hnswsearch $(EXTVERSION))'" \
		"default_version = '$(VECTOR_EXTVERSION)'" \
		"module_pathname = '\$$libdir/hnswsearch'" \
		'relocatable = true' 'trusted = true' > '$(VECTOR_CONTROL)'
	@cat $(SQL_CHAIN) | sed '/^\\echo /d' \
		> '$(DESTDIR)$(datadir)/extension/vector--$(VECTOR_EXTVERSION).sql'

uninstall-as-vector:
	@if [ -f '$(VECTOR_CONTROL)' ] && ! grep -q '$(VECTOR_MARK)' '$(VECTOR_CONTROL)'; then \
		echo '$(VECTOR_CONTROL) is not hnswsearch'"'"'s: leaving it' >&2; exit 1; fi
	rm -f '$(VECTOR_CONTROL)' '$(DESTDIR)$(datadir)/extension/vector--$(VECTOR_EXTVERSION).sql'

# pgindent, PostgreSQL 15's, fetched on first use (tools/pgindent.sh)
indent:
	tools/pgindent.sh .
indent-check:
	tools/pgindent.sh --check .

# `make deb`: the Debian package postgresql-15-hnswsearch, built with
# pg_buildext into build/deb/ (README "Install from a Debian package");
# all the logic lives in debian/build-deb.sh.
.PHONY: deb
deb:
	bash debian/build-deb.sh
