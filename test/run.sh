#!/usr/bin/env bash
# test/run.sh demo|test|bench|fuzz [ARGS...] -- what `make demo|test|bench|fuzz`
# run; ARGS go to test/demo.py or bench/run.sh (`make demo ARGS=--exact`).
#
# 1. setup: install missing Debian packages (root only), build and install the
#    extension.  As root, then re-run this script as `postgres` over a copy of
#    the tree: initdb and PostgreSQL::Test::Cluster refuse to run as root, and
#    pg_regress/TAP write results/ and tmp_check/ into the tree.
# 2. start a throwaway cluster (temp dir, free port on 127.0.0.1, socket in the
#    temp dir) and export PGHOST/PGPORT/PGUSER/PGDATABASE for it.
# 3. demo:  /usr/bin/python3 test/demo.py
#    test:  pg_regress (`make installcheck`) then each test/t/*.pl with prove
#           (setup also runs `npm ci` in test/clients/node for 050_clients.pl);
#           the last line is "N passed, N failed", counting pg_regress tests
#           plus TAP test *files* (a file passes when all its assertions do);
#           a sql/X.sql without expected/X.out counts as one failed test.
#           TAP tests may `use` modules from test/perl.  As root, then the
#           Debian package (test/deb_test.sh: make deb, install, try,
#           restore), and the summary line again with it counted.
#    bench: bench/run.sh; as root, bench/out/ and bench/data/ (its cache) are
#           copied back into the tree.
#    fuzz:  only the fuzz TAP tests (test/t/04*_fuzz_*.pl), each for
#           HNSW_FUZZ_SECONDS (default here 300; in `test` each test's own
#           small default); same summary line.  HNSW_FUZZ_SECONDS,
#           HNSW_FUZZ_SEED, HNSW_FUZZ_SKIP and HNSW_FUZZ_SANITIZE reach the
#           tests in `test` and `fuzz` (test/fuzz/HnswFuzz.pm).
# The EXIT trap stops the cluster and removes the temp dirs whatever happens;
# for `test`, a failure before the summary (packages, build, cluster) still ends
# with the summary line, as "0 passed, 1 failed".
set -euo pipefail

cmd=${1:-}
case $cmd in demo|test|bench|fuzz) ;; *) echo "usage: $0 demo|test|bench|fuzz [ARGS...]" >&2; exit 2 ;; esac
args=("${@:2}")
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

tmpdirs=()
pgdata=
reported= # set once the summary line is printed (or left to the inner run)
hugepages_was= # vm.nr_hugepages to restore, if the bench raised it
cleanup() {
	local rc=$?
	if [[ -n $pgdata && -f $pgdata/postmaster.pid ]]; then
		pg_ctl -D "$pgdata" -s -m immediate stop || true
	fi
	if ((${#tmpdirs[@]})); then rm -rf "${tmpdirs[@]}"; fi
	if [[ -n $hugepages_was ]]; then sysctl -q -w vm.nr_hugepages="$hugepages_was" || true; fi
	if ((rc)) && [[ $cmd == test || $cmd == fuzz ]] && [[ -z $reported ]]; then echo "0 passed, 1 failed"; fi
}
trap cleanup EXIT

mktmp() { mktemp -d "${TMPDIR:-/tmp}/hnswsearch-$1.XXXXXX"; }

# Debian packages each subcommand needs.
packages() {
	echo gcc make postgresql-15 postgresql-server-dev-15 libipc-run-perl
	case $cmd in
	demo) echo python3-numpy python3-psycopg ;;
	test)
		# test/t/050_clients.pl: the Python clients, and node + npm for the
		# node client unless they are there already (NodeSource's nodejs
		# bundles npm and conflicts with Debian's npm package)
		echo python3-numpy python3-psycopg python3-psycopg2 python3-sqlalchemy
		command -v node >/dev/null || echo nodejs
		command -v npm >/dev/null || echo npm
		;;
	bench) echo python3-numpy python3-psycopg dataset-fashion-mnist python3-hnswlib ;;
	esac
}

install_packages() {
	local p missing=()
	for p in $(packages); do
		[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	if ((EUID != 0)); then
		echo "missing packages (run as root, or: sudo apt-get install ${missing[*]})" >&2
		exit 1
	fi
	echo "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# PG_CONFIG: as given (made absolute), else the PATH one if it is v15, else Debian's v15.
resolve_pg_config() {
	local pc=${PG_CONFIG:-}
	if [[ -z $pc ]]; then
		pc=pg_config
		[[ $(pg_config --version 2>/dev/null) == "PostgreSQL 15."* ]] || pc=/usr/lib/postgresql/15/bin/pg_config
	fi
	PG_CONFIG=$(command -v "$pc") || { echo "pg_config not found: $pc" >&2; exit 1; }
	export PG_CONFIG
	PATH=$("$PG_CONFIG" --bindir):$PATH
}

setup() {
	install_packages
	resolve_pg_config
	make -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG"
	local targets=(install)
	# test: also under the name vector (TAP 051), unless pgvector's is there
	if [[ $cmd == test ]]; then
		local vc
		vc=$("$PG_CONFIG" --sharedir)/extension/vector.control
		if [[ ! -f $vc ]] || grep -q 'hnswsearch installed under the name vector' "$vc"; then
			targets=(install-as-vector)
		else
			echo "note: $vc is pgvector's; test 051 (install-as-vector) will be skipped" >&2
		fi
	fi
	if ((EUID == 0)) || [[ -w $("$PG_CONFIG" --pkglibdir) ]]; then
		make -s PG_CONFIG="$PG_CONFIG" "${targets[@]}"
	else
		sudo make -s PG_CONFIG="$PG_CONFIG" "${targets[@]}"
	fi
	install_node_modules
}

# test: the node client's modules (pg, pgvector), at the versions its
# package-lock.json pins.  A failure here is not fatal: 050_clients.pl tries
# `npm ci` again and fails, with npm's message, if it cannot.
install_node_modules() {
	[[ $cmd == test ]] || return 0
	echo "npm ci in test/clients/node"
	npm ci --prefix test/clients/node --no-audit --no-fund --loglevel=error ||
		echo "npm ci failed (test/t/050_clients.pl will report it)" >&2
}

# As root: copy the tree (no .git, no old test output, bench files only for
# bench) for `postgres`, run this script there as `postgres`, and bring the
# bench results and cache back, and the TAP logs after a failure.
run_as_postgres() {
	local copy d rc=0
	local skip=(--exclude=./.git --exclude=./tmp_check --exclude=./results)
	[[ $cmd == bench ]] || skip+=(--exclude=./bench/data --exclude=./bench/out)
	copy=$(mktmp tree)
	tmpdirs+=("$copy")
	tar -C "$top" "${skip[@]}" -cf - . | tar -C "$copy" -xf -
	chown -R postgres: "$copy"
	reported=1 # by the inner run
	local fuzzenv=() v
	for v in HNSW_FUZZ_SECONDS HNSW_FUZZ_SEED HNSW_FUZZ_SKIP HNSW_FUZZ_SANITIZE HNSW_SUMMARY_FILE; do
		if [[ -n ${!v:-} ]]; then fuzzenv+=("$v=${!v}"); fi
	done
	runuser -u postgres -- env HNSWSEARCH_AS_USER=1 PG_CONFIG="$PG_CONFIG" PATH="$PATH" \
		HNSW_BENCH_HUGE_PAGES="${HNSW_BENCH_HUGE_PAGES:-1}" "${fuzzenv[@]}" \
		bash "$copy/test/run.sh" "$cmd" "${args[@]}" || rc=$?
	for d in out data; do
		if [[ $cmd == bench && -d $copy/bench/$d ]]; then
			mkdir -p "$top/bench/$d"
			cp -r "$copy/bench/$d/." "$top/bench/$d/"
		fi
	done
	# after a failure, the TAP logs (and the fuzzers' replay scripts) stay
	if ((rc)) && [[ -d $copy/tmp_check/log ]]; then
		rm -rf "$top/tmp_check/log"
		mkdir -p "$top/tmp_check"
		cp -r "$copy/tmp_check/log" "$top/tmp_check/log"
		echo "TAP logs: $top/tmp_check/log"
	fi
	return $rc
}

# bench, as root: 2 MB pages for the bench cluster's 2 GB of shared buffers
# (PostgreSQL's huge_pages, as recommended for large shared_buffers), unless
# HNSW_BENCH_HUGE_PAGES=0; the old setting is restored on exit.  If the
# kernel cannot reserve them, the cluster runs without (huge_pages = try).
reserve_huge_pages() {
	local want=1100 have
	[[ $cmd == bench && ${HNSW_BENCH_HUGE_PAGES:-1} != 0 && -w /proc/sys/vm/nr_hugepages ]] || return 0
	have=$(cat /proc/sys/vm/nr_hugepages)
	((have < want)) || return 0
	sysctl -q -w vm.nr_hugepages=$want 2>/dev/null && hugepages_was=$have || true
}

start_cluster() {
	local dir port
	dir=$(mktmp pg)
	tmpdirs+=("$dir")
	# Ask the kernel for a free port (perl is always there: PostgreSQL needs it).
	port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport')
	initdb -D "$dir/data" -A trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" ||
		{ cat "$dir/initdb.log"; exit 1; }
	# A throwaway cluster: durability settings off for speed.
	cat >>"$dir/data/postgresql.conf" <<-EOF
		port = $port
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$dir'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		shared_buffers = $([[ $cmd == bench ]] && echo 2GB || echo 128MB)
		huge_pages = $([[ $cmd == bench && ${HNSW_BENCH_HUGE_PAGES:-1} != 0 ]] && echo try || echo off)
	EOF
	pgdata=$dir/data
	pg_ctl -D "$pgdata" -w -s -l "$dir/postgres.log" start || { cat "$dir/postgres.log"; exit 1; }
	export PGHOST=$dir PGPORT=$port PGUSER=$(id -un) PGDATABASE=postgres
	echo "cluster: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER PGDATABASE=$PGDATABASE"
}

run_demo() {
	/usr/bin/python3 test/demo.py "${args[@]}"
}

run_bench() {
	bash bench/run.sh "${args[@]}"
}

# TAP: each file given with prove, in the environment PGXS's
# prove_installcheck sets up; each test makes its own clusters, so it does
# not use the throwaway one.  Adds to pass and fail.
run_tap() {
	local t name pgxsdir tap
	pgxsdir=$(dirname "$("$PG_CONFIG" --pgxs)")/../..
	tap=$(mktmp tap) # TMPDIR for TAP's socket dirs, which it keeps on failure
	tmpdirs+=("$tap")
	rm -rf tmp_check
	for t in "$@"; do
		[[ -e $t ]] || continue
		name=$(basename "$t" .pl)
		if TMPDIR=$tap TESTDIR=$top PG_REGRESS=$pgxsdir/src/test/regress/pg_regress PGPORT=65432 \
			prove -I "$pgxsdir/src/test/perl" -I test/perl "$t"; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1)) failed+=("$name")
			echo "--- tail of tmp_check/log/regress_log_$name ---"
			tail -n 40 "tmp_check/log/regress_log_$name" 2>/dev/null || true
		fi
	done
}

# The names of the failed tests, on the line before the summary line, so
# that the end of a CI log says which tests to look at.
print_failed() {
	(($#)) || return 0
	echo "failed: $*"
}

run_fuzz() {
	local pass=0 fail=0 failed=()
	export HNSW_FUZZ_SECONDS=${HNSW_FUZZ_SECONDS:-300}
	echo "=== fuzz (test/t/04*_fuzz_*.pl), HNSW_FUZZ_SECONDS=$HNSW_FUZZ_SECONDS each ==="
	run_tap test/t/04*_fuzz_*.pl
	echo "=== summary: TAP test files ==="
	print_failed "${failed[@]}"
	echo "$pass passed, $fail failed"
	reported=1
	((fail == 0))
}

run_test() {
	local pass=0 fail=0 n_ok n_bad t name rc tests=() failed=()
	local log
	log=$(mktemp)
	tmpdirs+=("$log")

	# pg_regress against the throwaway cluster (PGHOST/PGPORT).  It aborts the
	# whole run on a missing expected file: count such a test as failed instead.
	echo "=== pg_regress ==="
	for t in sql/*.sql; do
		name=$(basename "$t" .sql)
		[[ $name != hnswsearch--* ]] || continue
		if [[ -f expected/$name.out ]]; then
			tests+=("$name")
		else
			echo "test $name ... FAILED: expected/$name.out is missing"
			fail=$((fail + 1)) failed+=("$name")
		fi
	done
	rm -rf results regression.diffs regression.out
	rc=0
	: >"$log"
	if ((${#tests[@]})); then
		make -s PG_CONFIG="$PG_CONFIG" REGRESS="${tests[*]}" installcheck 2>&1 | tee "$log" || rc=$?
	fi
	n_ok=$(grep -cE '\.\.\. ok' "$log" || true)
	n_bad=$(grep -cE '\.\.\. FAILED' "$log" || true)
	((rc == 0 || n_bad > 0)) || { n_bad=1 failed+=(pg_regress); } # pg_regress itself failed
	while read -r name; do failed+=("$name"); done < <(sed -nE 's/^[ ]*(test |[0-9]+ +- )?([a-z0-9_]+) +\.\.\. FAILED.*/\2/p' "$log")
	pass=$((pass + n_ok)) fail=$((fail + n_bad))
	if [[ -f regression.diffs ]] && ((n_bad)); then
		echo "--- regression.diffs ---"
		cat regression.diffs
	fi

	echo "=== TAP (test/t) ==="
	run_tap test/t/*.pl

	echo "=== summary: pg_regress tests + TAP test files ==="
	print_failed "${failed[@]}"
	echo "$pass passed, $fail failed"
	reported=1
	if [[ -n ${HNSW_SUMMARY_FILE:-} ]]; then
		printf '%s %s\n%s\n' "$pass" "$fail" "${failed[*]}" >"$HNSW_SUMMARY_FILE"
	fi
	((fail == 0))
}

# test, as root, after the suite: the Debian package (test/deb_test.sh builds
# it with make deb, installs it, tries it, and puts make install's files
# back); HNSW_DEB_BUILD=0 only uses a package already built.  Prints the
# summary line again with it counted (skipped: not counted).
run_deb_test() {
	local counts=$1 rc=0 pass fail failed=()
	{ read -r pass fail && read -r -a failed; } <"$counts" || [[ -n ${pass:-} ]] || { pass=0 fail=1 failed=(suite); }
	echo "=== Debian package (test/deb_test.sh) ==="
	HNSW_DEB_BUILD=${HNSW_DEB_BUILD:-1} bash test/deb_test.sh || rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) ;;
	*) fail=$((fail + 1)) failed+=(deb_test) ;;
	esac
	echo "=== summary: pg_regress tests + TAP test files + Debian package ==="
	print_failed "${failed[@]}"
	echo "$pass passed, $fail failed"
	((fail == 0))
}

if [[ $cmd == bench && ! -f bench/run.sh ]]; then
	echo "bench/run.sh does not exist yet: nothing to benchmark" >&2
	exit 1
fi
if [[ -z ${HNSWSEARCH_AS_USER:-} ]]; then
	setup
	if ((EUID == 0)); then
		reserve_huge_pages
		if [[ $cmd != test ]]; then
			run_as_postgres
			exit
		fi
		counts=$(mktemp)
		tmpdirs+=("$counts")
		chmod 666 "$counts"
		HNSW_SUMMARY_FILE=$counts run_as_postgres || true
		run_deb_test "$counts"
		exit
	fi
else
	resolve_pg_config
fi
# fuzz needs no throwaway cluster: its tests make their own
[[ $cmd == fuzz ]] || start_cluster
"run_$cmd"
