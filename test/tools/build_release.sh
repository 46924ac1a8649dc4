#!/usr/bin/env bash
#
# test/tools/build_release.sh COMMIT DEST — build mantis as it was at COMMIT
# (a release, from this repository's history) into a PostgreSQL installation
# of its own at DEST, beside the installed mantis: for tests that run servers
# of both libraries at once (TAP 020, a rolling upgrade).
#
# DEST gets a copy of the installation PG_CONFIG names (its programs,
# libraries, shared files and headers, at their paths under DEST, so that
# its pg_config and postgres find their directories relative to themselves,
# as in /work/mkpg.sh), without the installed mantis, and COMMIT's mantis
# built (without LLVM bitcode) and installed there.  The last line printed
# is the installation's root, the parent of its bin/ and lib/ (the
# install_path of PostgreSQL::Test::Cluster).  A complete DEST is reused; a
# failed build leaves none.  Needs the repository's history (git archive):
# a tree without it (a tarball) fails with a message saying so.
#
set -eu
commit=$1
dest=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}

bindir=$("$PG_CONFIG" --bindir)
root="$dest$(dirname "$bindir")"
if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$commit" ]; then
	echo "$root"
	exit 0
fi

# the tree may be a copy owned by another user than its .git (a worktree's
# .git names the main repository's): git's ownership check does not apply;
# and only the tree's own repository, not one it may lie in
git_() { GIT_CEILING_DIRECTORIES=$(dirname "$src") git -c safe.directory='*' -C "$src" "$@"; }
if ! git_ rev-parse --git-dir >/dev/null 2>&1; then
	echo "build_release.sh: $src is no git repository (a tarball?): the release $commit is built from the repository's history, clone it instead" >&2
	exit 1
fi
if ! git_ cat-file -e "$commit^{commit}" 2>/dev/null; then
	echo "build_release.sh: commit $commit is not in the repository's history (a shallow clone?): fetch the full history" >&2
	exit 1
fi

tmp="$dest.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
pkglibdir=$("$PG_CONFIG" --pkglibdir)
sharedir=$("$PG_CONFIG" --sharedir)
includedir=$("$PG_CONFIG" --includedir)
# the installation, each directory at its own path under $tmp
for d in "$(dirname "$bindir")" "$pkglibdir" "$sharedir" "$includedir"; do
	[ -e "$tmp$d" ] && continue
	mkdir -p "$tmp$(dirname "$d")"
	cp -a "$d" "$tmp$d"
done
# without the installed mantis (the release installs its own)
rm -rf "$tmp$pkglibdir"/mantis.so "$tmp$pkglibdir"/bitcode/mantis "$tmp$pkglibdir"/bitcode/mantis.index.bc \
	"$tmp$sharedir"/extension/mantis[.-]* "$tmp$bindir"/mantis_keygen

mkdir "$tmp/src"
git_ archive "$commit" | tar -x -C "$tmp/src"
pgc="$tmp$bindir/pg_config"
[ "$("$pgc" --pkglibdir)" = "$tmp$pkglibdir" ] ||
	{ echo "build_release.sh: the copy's pg_config does not relocate (it says $("$pgc" --pkglibdir))" >&2; exit 1; }
jobs=$(nproc 2>/dev/null || echo 2)
if ! make -C "$tmp/src" -s -j"$jobs" PG_CONFIG="$pgc" with_llvm=no >"$tmp/build.log" 2>&1 ||
	! make -C "$tmp/src" -s PG_CONFIG="$pgc" with_llvm=no install >>"$tmp/build.log" 2>&1; then
	tail -n 40 "$tmp/build.log" >&2
	echo "build_release.sh: building $commit failed" >&2
	exit 1
fi
echo "$commit" >"$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "$root"
