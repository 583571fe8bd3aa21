#!/usr/bin/env bash
# debian/build-deb.sh -- what `make deb` runs: build the Debian package
# postgresql-NN-hnswsearch (NN from debian/pgversions, 15 by default) with
# dpkg-buildpackage and pg_buildext, and leave it in build/deb/:
#
#   build/deb/postgresql-15-hnswsearch_<version>_<arch>.deb   (plus .buildinfo, .changes)
#
# 1. As root, install the missing build packages with apt-get (as test/run.sh
#    does); as another user, print the apt-get line and stop.
# 2. Check that debian/changelog's version is the extension's (Makefile
#    EXTVERSION and hnswsearch.control default_version).
# 3. Copy the tree (no .git, no build output) into build/deb/hnswsearch-<version>/
#    so that the package builds from clean sources and the build, which runs
#    in the top directory (pgxs_loop), leaves the working tree alone; regenerate
#    debian/control from debian/control.in for debian/pgversions there.
# 4. dpkg-buildpackage -us -uc -b -J$(nproc) in the copy (debian/rules: dh with
#    pg_buildext, then a smoke test in a temporary cluster; no pg_regress
#    suite; DEB_BUILD_OPTIONS=nocheck skips the smoke test), then remove the
#    copy (HNSW_DEB_KEEP=1 keeps it).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=$top/build/deb

# The build packages: debian/control's Build-Depends (postgresql-NN for the
# smoke test: postgresql-NN <!nocheck>) and build-essential, which
# dpkg-buildpackage requires besides them.  The versions are pg_buildext's
# (debian/pgversions within the system's supported ones), so they are known
# once postgresql-server-dev-all, which brings pg_buildext, is there.
packages() {
	echo build-essential dpkg-dev debhelper postgresql-server-dev-all
}
version_packages() {
	local v
	for v in $(pg_buildext supported-versions); do
		echo "postgresql-server-dev-$v"
		[[ ${DEB_BUILD_OPTIONS:-} == *nocheck* ]] || echo "postgresql-$v"
	done
}

# install_packages PACKAGE...: those not installed yet
install_packages() {
	local p missing=()
	for p in "$@"; do
		[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	if ((EUID != 0)); then
		echo "missing packages (run as root, or: sudo apt-get install --no-install-recommends ${missing[*]})" >&2
		exit 1
	fi
	echo "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	[[ -n ${apt_updated:-} ]] || apt-get update -qq
	apt_updated=1
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

check_version() {
	local deb ext ctl
	deb=$(dpkg-parsechangelog -S Version)
	ext=$(sed -n 's/^EXTVERSION *= *//p' Makefile)
	ctl=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" hnswsearch.control)
	if [[ ${deb%%-*} != "$ext" || $ext != "$ctl" ]]; then
		echo "version mismatch: debian/changelog $deb, Makefile EXTVERSION $ext," \
			"hnswsearch.control default_version $ctl" >&2
		echo "(new release: add a debian/changelog entry, e.g. dch -v $ext)" >&2
		exit 1
	fi
	version=$deb
}

install_packages $(packages)
install_packages $(version_packages)
[[ -n $(pg_buildext supported-versions) ]] || {
	echo "debian/pgversions names no version in $(/usr/share/postgresql-common/supported-versions | xargs)" >&2
	exit 1
}
check_version
# the outer make's flags and command-line variables are not for the package build
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

src=$out/hnswsearch-$version
rm -rf "$src"
mkdir -p "$src"
tar -C "$top" --exclude=./.git --exclude=./build --exclude=./tmp_check --exclude=./results \
	--exclude=./log --exclude=./bench/data --exclude=./bench/out --exclude='*.o' \
	--exclude='*.so' --exclude='*.bc' --exclude=__pycache__ --exclude=regression.diffs \
	--exclude=regression.out -cf - . | tar -C "$src" -xf -
# the build runs `make clean` in the top directory; and a copy keeps the tree's own build
(cd "$src" && pg_buildext updatecontrol)
rm -f "$out"/postgresql-*-hnswsearch_"$version"_*.deb "$out"/hnswsearch_"$version"_*.{buildinfo,changes}
opts=(-us -uc -b -J"$(nproc)")
# nocheck: no smoke test, and no postgresql-NN build dependency for it
[[ ${DEB_BUILD_OPTIONS:-} != *nocheck* ]] || opts+=(-Pnocheck)
(cd "$src" && dpkg-buildpackage "${opts[@]}")
if [[ -z ${HNSW_DEB_KEEP:-} ]]; then rm -rf "$src"; fi
echo "built:"
ls -1 "$out"/postgresql-*-hnswsearch_"$version"_*.deb
echo "install with: apt-get install ./$(realpath --relative-to="$top" "$out")/postgresql-NN-hnswsearch_${version}_$(dpkg --print-architecture).deb"
