#!/usr/bin/env bash
#
# test/tools/check_dist.sh — "make check-dist": make the release tarball as
# "make dist" does and check it as a packager would use it:
#	- META.json is valid JSON, its version is the control file's
#	  default_version (x.y as x.y.0) and the file it names exists;
#	- the tarball holds one directory mantis-<version>/ with META.json,
#	  the control file, the Makefile and the install scripts;
#	- unpacked elsewhere, it builds warning-free against PG_CONFIG's
#	  PostgreSQL (installing nothing).
# Needs the repository's history (git archive); prints what failed.
#
set -eu
cd "$(dirname "$0")/../.."
PG_CONFIG=${PG_CONFIG:-pg_config}
fail() { echo "check-dist: $*"; exit 1; }

control=$(sed -n "s/^default_version = '\(.*\)'/\1/p" mantis.control)
meta=$(python3 -c 'import json, sys; m = json.load(open("META.json")); print(m["version"], m["provides"]["mantis"]["version"], m["provides"]["mantis"]["file"], m["name"])') ||
	fail "META.json is not valid JSON"
read -r version provided file name <<<"$meta"
[ "$name" = mantis ] || fail "META.json names $name"
[ "$version" = "$control.0" ] || fail "META.json's version $version is not the control file's $control (as $control.0)"
[ "$provided" = "$version" ] || fail "META.json provides mantis $provided, not $version"
[ -f "$file" ] || fail "META.json names $file, which does not exist"

git_() { git -c safe.directory='*' "$@"; }
git_ rev-parse --git-dir >/dev/null 2>&1 || fail "no git repository: make dist archives the commit checked out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git_ archive --format=tar.gz --prefix="mantis-$version/" --output="$tmp/mantis-$version.tar.gz" HEAD
tar -C "$tmp" -xzf "$tmp/mantis-$version.tar.gz"
[ "$(ls "$tmp" | grep -v '\.tar\.gz$')" = "mantis-$version" ] || fail "the tarball does not hold one directory mantis-$version/"
for f in META.json mantis.control Makefile README.md "$file"; do
	[ -f "$tmp/mantis-$version/$f" ] || fail "the tarball lacks $f"
done
if ! make -s -C "$tmp/mantis-$version" PG_CONFIG="$PG_CONFIG" >"$tmp/build.log" 2>&1; then
	cat "$tmp/build.log"; fail "the tarball does not build against $("$PG_CONFIG" --version)"
fi
if grep -q 'warning:' "$tmp/build.log"; then
	cat "$tmp/build.log"; fail "the tarball's build against $("$PG_CONFIG" --version) has warnings"
fi
[ -f "$tmp/mantis-$version/mantis.so" ] || fail "the tarball's build made no mantis.so"
echo "check-dist: mantis-$version.tar.gz ($(du -k "$tmp/mantis-$version.tar.gz" | cut -f1) kB) builds warning-free against $("$PG_CONFIG" --version)"
