#!/usr/bin/env bash
# test/deb_test.sh -- install the Debian package built by `make deb` and use it:
#
# 1. the package: build/deb/postgresql-15-hnswsearch_<version>_<arch>.deb, its
#    version that of debian/changelog (= Makefile EXTVERSION, checked by make
#    deb).  HNSW_DEB_BUILD=1: build it first (`make deb`, about 15 s of CPU
#    plus the apt-get install of debhelper & co. on a fresh machine).
#    Otherwise, when it is missing or older than the sources, the test is
#    skipped (exit 77).
# 2. apt-get install it; check that hnswsearch.so and hnswsearch.control land
#    in /usr/lib/postgresql/15/lib/ and /usr/share/postgresql/15/extension/,
#    owned by the package and as packaged (dpkg --verify).
# 3. start a throwaway cluster (system PostgreSQL 15, temp dir, free port on
#    127.0.0.1, run as postgres) and run debian/tests/smoke.sql in it: CREATE
#    EXTENSION hnswsearch, an hnsw index on 100 rows, one ordered query that
#    must go through the index and give the expected rows.
# 4. leave the system as found: if the package was not installed before, purge
#    it, and put back the files it overwrote (those of `make install`, which
#    `make test` runs first), byte for byte; then create the extension again
#    in a new database, so the restored install is shown to work.
#
# Needs root (apt-get, dpkg).  Exit status: 0 passed, 1 failed, 77 skipped
# (not root, or no up-to-date package without HNSW_DEB_BUILD=1).  The last line
# says which: "deb test: passed|FAILED|skipped (...)".
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
pgver=15
pkg=postgresql-$pgver-hnswsearch
bindir=/usr/lib/postgresql/$pgver/bin
so=/usr/lib/postgresql/$pgver/lib/hnswsearch.so
control=/usr/share/postgresql/$pgver/extension/hnswsearch.control

result=
skip() { echo "deb test: skipped ($*)"; result=skipped; exit 77; }
fail() { echo "FAILED: $*" >&2; exit 1; }

((EUID == 0)) || skip "needs root to install the package"
command -v dpkg-parsechangelog >/dev/null || skip "no dpkg-dev: run make deb first"
version=$(dpkg-parsechangelog -S Version)
deb=build/deb/${pkg}_${version}_$(dpkg --print-architecture).deb

if [[ ${HNSW_DEB_BUILD:-} == 1 ]]; then
	echo "=== make deb ==="
	start=$SECONDS
	bash debian/build-deb.sh
	echo "make deb: $((SECONDS - start)) s"
else
	[[ -f $deb ]] || skip "no $deb: run make deb first, or set HNSW_DEB_BUILD=1"
	newer=$(find src sql debian Makefile hnswsearch.control -type f -newer "$deb" -print -quit)
	[[ -z $newer ]] || skip "$deb is older than $newer: run make deb again, or set HNSW_DEB_BUILD=1"
fi
[[ -f $deb ]] || fail "make deb left no $deb"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hnswsearch-deb.XXXXXX")
chmod 755 "$tmp"
pgdata=
was_installed=
installed=
restored=

# Step 4: purge the package if the test installed it, put back the files it
# replaced.  Once, from the main flow or, after a failure, from the EXIT trap.
restore() {
	local f
	[[ -z $restored ]] || return 0
	restored=1
	if [[ -n $installed && -z $was_installed ]]; then
		echo "=== dpkg --purge $pkg; restore the files it replaced ==="
		dpkg --purge "$pkg" >/dev/null || return 1
	fi
	[[ -s $tmp/replaced ]] || return 0
	while read -r f; do
		mkdir -p "$(dirname "$f")"
		cp -a "$tmp/backup$f" "$f" && cmp -s "$tmp/backup$f" "$f" || { echo "$f not restored" >&2; return 1; }
	done <"$tmp/replaced"
	echo "ok: the $(wc -l <"$tmp/replaced") files restored as they were before the test"
}

cleanup() {
	local rc=$?
	set +e
	if [[ -n $pgdata && -f $pgdata/postmaster.pid ]]; then
		runuser -u postgres -- "$bindir/pg_ctl" -D "$pgdata" -s -m immediate stop
	fi
	restore || { echo "FAILED: restoring the files the package replaced (backup: $tmp/backup)" >&2; exit 1; }
	rm -rf "$tmp"
	if [[ -z $result ]]; then
		if ((rc == 0)); then echo "deb test: passed"; else echo "deb test: FAILED"; fi
	fi
	exit $rc
}
trap cleanup EXIT

# The files the package installs; back up those that exist (from make install).
dpkg-deb --fsys-tarfile "$deb" | tar -tvf - | awk '$1 ~ /^-/ { sub(/^\./, "", $6); print $6 }' >"$tmp/files"
grep -qx "$so" "$tmp/files" || fail "$deb has no $so"
grep -qx "$control" "$tmp/files" || fail "$deb has no $control"
mkdir "$tmp/backup"
while read -r f; do
	if [[ -e $f ]]; then
		mkdir -p "$tmp/backup$(dirname "$f")"
		cp -a "$f" "$tmp/backup$f"
		echo "$f" >>"$tmp/replaced"
	fi
done <"$tmp/files"
echo "the package replaces $(wc -l <"$tmp/replaced" 2>/dev/null || echo 0) of its $(wc -l <"$tmp/files") files already on disk"
[[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != "install ok installed" ]] || was_installed=1

echo "=== apt-get install ./$deb ==="
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --reinstall "./$deb" >"$tmp/apt.log" 2>&1 ||
	{ cat "$tmp/apt.log"; fail "apt-get install ./$deb"; }
[[ $(dpkg-query -W -f='${Status} ${Version}' "$pkg") == "install ok installed $version" ]] ||
	fail "$pkg $version is not installed: $(dpkg-query -W -f='${Status} ${Version}' "$pkg")"
for f in "$so" "$control"; do
	[[ -f $f ]] || fail "$f is missing"
	[[ $(dpkg-query -S "$f" 2>/dev/null) == "$pkg: $f" ]] || fail "$f is not owned by $pkg"
	echo "ok: $f ($pkg)"
done
verify=$(dpkg --verify "$pkg") || true
[[ -z $verify ]] || fail "installed files differ from the package: $verify"
echo "ok: dpkg --verify $pkg"

# A throwaway cluster, as test/run.sh makes them, run as postgres.
port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport')
mkdir "$tmp/pg"
chown postgres: "$tmp/pg"
as_pg() { runuser -u postgres -- "$@"; }
as_pg "$bindir/initdb" -D "$tmp/pg/data" -A trust -E UTF8 --no-locale --no-sync >"$tmp/initdb.log" ||
	{ cat "$tmp/initdb.log"; fail initdb; }
cat >>"$tmp/pg/data/postgresql.conf" <<-EOF
	port = $port
	listen_addresses = '127.0.0.1'
	unix_socket_directories = '$tmp/pg'
	fsync = off
EOF
pgdata=$tmp/pg/data
as_pg "$bindir/pg_ctl" -D "$pgdata" -w -s -l "$tmp/pg/postgres.log" start ||
	{ cat "$tmp/pg/postgres.log"; fail "cluster start"; }
psql_db() { as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp/pg" -p "$port" -d "$1"; }

echo "=== debian/tests/smoke.sql with the package installed ==="
psql_db postgres <debian/tests/smoke.sql || fail "smoke test with the package"

# Leave the system as found, then show that what is left works.
restore || fail "restoring the files the package replaced"
if [[ -f $so && -f $control ]]; then
	echo "=== debian/tests/smoke.sql again, with the files restored, in a new database ==="
	as_pg "$bindir/createdb" -h "$tmp/pg" -p "$port" after_deb
	psql_db after_deb <debian/tests/smoke.sql || fail "smoke test after restoring the files"
else
	echo "no hnswsearch was installed before the test: none is left after it"
fi
