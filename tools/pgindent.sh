#!/bin/bash
# Run PostgreSQL 15's pgindent on TREE/src/*.c and TREE/src/*.h, in place
# (`make indent`, `make indent-check`).
#   pgindent.sh TREE           reformat
#   pgindent.sh --check TREE   reformat a temp copy, print the diff, exit 1 if any
# Needs perl and pg_bsd_indent 2.1.1 (apt-get install pg-bsd-indent; the
# version pgindent 15 checks for).  The first run fetches pgindent and
# typedefs.list from Debian's postgresql-15 source package into
# build/pgindent/ (private apt config; the system's sources are untouched):
# PostgreSQL's tools are run, not kept in this tree.  The tree's own typedef
# names (tools/extract_typedefs.pl) are appended to PostgreSQL's list.
set -euo pipefail
CHECK=0
[ "${1:-}" = --check ] && { CHECK=1; shift; }
TREE=$(cd "${1:?usage: run.sh [--check] TREE}" && pwd)
TOOLS=$(cd "$(dirname "$0")" && pwd)
HERE=$TOOLS/../build/pgindent
mkdir -p "$HERE"
HERE=$(cd "$HERE" && pwd)

command -v pg_bsd_indent >/dev/null || apt-get install -y -q pg-bsd-indent >/dev/null
pg_bsd_indent --version | grep -q ' 2\.1\.1 ' \
	|| { echo "pgindent 15 needs pg_bsd_indent 2.1.1, have: $(pg_bsd_indent --version)" >&2; exit 1; }

if [ ! -f "$HERE/pgindent" ] || [ ! -f "$HERE/typedefs.list" ]; then
	A="$HERE/apt"
	mkdir -p "$A/lists/partial" "$A/parts" "$HERE/src"
	sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$A/parts/src.sources"
	APTO=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$A/parts" -o "Dir::State::Lists=$A/lists")
	apt-get "${APTO[@]}" update -q >/dev/null
	got=
	# newest first; a version can be listed yet 404 (15.20 on the security mirror)
	for v in $(apt-cache "${APTO[@]}" showsrc postgresql-15 | sed -n 's/^Version: //p' | sort -rV); do
		if (cd "$HERE/src" && apt-get "${APTO[@]}" source --download-only -q "postgresql-15=$v" >/dev/null 2>&1); then
			got=$v; break
		fi
	done
	[ -n "$got" ] || { echo "could not download postgresql-15 source" >&2; exit 1; }
	tar -xjf "$HERE/src/postgresql-15_${got%-*}.orig.tar.bz2" -C "$HERE/src" --wildcards '*/src/tools/pgindent/*'
	cp "$HERE/src/postgresql-${got%-*}/src/tools/pgindent/"{pgindent,typedefs.list} "$HERE/"
	echo "pgindent + typedefs.list from postgresql-15 $got" >&2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ $CHECK = 1 ]; then
	mkdir "$WORK/a" "$WORK/b"
	cp "$TREE"/src/*.[ch] "$WORK/a/"; cp "$TREE"/src/*.[ch] "$WORK/b/"
	TARGET=$WORK/b
else
	TARGET=$TREE/src
fi

# PostgreSQL's list + the typedef names this tree declares.
cat "$HERE/typedefs.list" > "$WORK/typedefs.list"
perl "$TOOLS/extract_typedefs.pl" "$TARGET"/*.c "$TARGET"/*.h >> "$WORK/typedefs.list"

# pgindent leaves its temp files in the cwd, and prints nothing on success.
out=$(cd "$WORK" && perl "$HERE/pgindent" --typedefs="$WORK/typedefs.list" "$TARGET"/*.c "$TARGET"/*.h 2>&1)
if [ -n "$out" ]; then echo "$out" >&2; exit 1; fi

if [ $CHECK = 1 ]; then
	(cd "$WORK" && diff -ru a b) && echo "pgindent: no changes" || exit 1
fi
