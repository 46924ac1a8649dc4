#!/usr/bin/env bash
#
# test/pg_root.sh VERSION — a Debian root holding PostgreSQL VERSION (17 or
# 18) and what the suites need to build and test mantis against it, made
# with debootstrap from Debian's archive and kept in a cache outside the
# checkout (MANTIS_PG_ROOTS, default /var/cache/mantis/pg-roots) for later
# runs.  Prints the root's path.  As root only (debootstrap, chroot).
#
# Debian 12 packages PostgreSQL 15 only; Debian 13 (trixie) packages 17 and
# sid 18.  Their programs need their own C library, hence a root each:
#	17	trixie: the server, its headers, and what pg_regress and the TAP
#		files use
#	18	sid: the same, plus what the client libraries and the fuzzers use
#		(every suite runs on 18), plus this machine's PostgreSQL 15 with
#		mantis installed (copied from /usr/lib/postgresql/15 and
#		/usr/share/postgresql/15 with the libraries of Debian 12 that sid
#		no longer has), for the mixed-version test; and, in
#		/opt/pg15-upgrade, the 15 of Debian 12's main suite (15.18) with the
#		same mantis, for the pg_upgrade test: pg_upgrade of 18.6 cannot
#		read the catalogs of the 15.20 of bookworm-security, which gives
#		every column an attribute option (pg_attver) that 18.6 refuses,
#		with or without mantis
# A root is made in a scratch directory and renamed into place when
# complete; a complete root whose package list is the one asked for is
# reused (the 15 copy is refreshed on every call, as mantis changes).  When
# the archive cannot be reached the script fails, saying so: a version that
# cannot be tested fails the run, it is never skipped.
#
# test/pg_root.sh enter ROOT CMD...: runs CMD in ROOT with /proc and /dev
# (so /dev/shm) mounted, in a mount namespace of its own.
#
set -eu
MIRROR=${MANTIS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${MANTIS_PG_ROOTS:-/var/cache/mantis/pg-roots}

if [ "$(id -u)" != 0 ]; then
	echo "pg_root.sh: must run as root (debootstrap, chroot)" >&2
	exit 1
fi

# enter ROOT CMD...: CMD in the root, with /proc and /dev mounted for it
# in a mount namespace of its own: the mounts end with the command, however
# it ends (killed too), and never show in this machine's /dev
enter() {
	local root=$1
	shift
	unshare --mount --propagation private sh -c '
		root=$1
		shift
		mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" &&
			exec chroot "$root" "$@"' enter "$root" "$@"
}

# remove_root DIR: delete a root, never crossing into a file system
# mounted under it (a /dev left mounted by a version of this script that
# mounted in this machine's namespace)
remove_root() {
	local m
	[ -e "$1" ] || return 0
	for m in $(findmnt -rn -o TARGET | grep "^$1/" | sort -r); do
		umount -l "$m" || true
	done
	rm -rf --one-file-system "$1"
}

if [ "${1:-}" = enter ]; then
	shift
	enter "$@"
	exit $?
fi

version=${1:?usage: pg_root.sh VERSION | enter ROOT CMD...}
COMMON="postgresql-$version postgresql-server-dev-$version libzmq3-dev make gcc libc6-dev
	perl libipc-run-perl faketime procps git iproute2 ca-certificates"
case $version in
17)
	suite=trixie
	packages="$COMMON"
	;;
18)
	suite=sid
	packages="$COMMON clang libclang-rt-dev python3 python3-psycopg python3-psycopg2
		python3-sqlalchemy pgbouncer ruby ruby-pg libpostgresql-jdbc-java
		default-jdk-headless golang-go golang-github-jackc-pgx-v4-dev libdbd-pg-perl nodejs"
	;;
*)
	echo "pg_root.sh: no root for PostgreSQL $version (17 or 18)" >&2
	exit 2
	;;
esac
packages=$(echo $packages)
root=$CACHE/pg$version
stamp="$suite: $packages"

log() { echo "pg_root.sh: $*" >&2; }

build_root() {
	local new=$CACHE/pg$version.new
	command -v debootstrap >/dev/null ||
		apt-get install -y -q --no-install-recommends debootstrap >/dev/null ||
		{ log "cannot install debootstrap"; return 1; }
	remove_root "$new"
	mkdir -p "$new"
	log "making a $suite root for PostgreSQL $version in $root (debootstrap, a few minutes)"
	if ! debootstrap --variant=minbase "$suite" "$new" "$MIRROR" >"$CACHE/pg$version.log" 2>&1; then
		tail -n 20 "$CACHE/pg$version.log" >&2
		log "debootstrap of $suite from $MIRROR failed: PostgreSQL $version cannot be tested (is the archive reachable?)"
		return 1
	fi
	# no server started by a package's scripts, no cluster made by postgresql-common
	printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
	chmod 755 "$new/usr/sbin/policy-rc.d"
	mkdir -p "$new/etc/postgresql-common/createcluster.d"
	echo "create_main_cluster = false" >"$new/etc/postgresql-common/createcluster.d/mantis.conf"
	# sid's Release file is valid for a week only: an archive mirror that
	# lags (or a snapshot of it) would otherwise stop the install
	if ! enter "$new" env DEBIAN_FRONTEND=noninteractive sh -c \
		"apt-get -o Acquire::Check-Valid-Until=false update -q &&
		 apt-get install -y -q --no-install-recommends $packages" \
		>>"$CACHE/pg$version.log" 2>&1; then
		tail -n 20 "$CACHE/pg$version.log" >&2
		log "installing PostgreSQL $version and the tools into the $suite root failed: it cannot be tested"
		return 1
	fi
	enter "$new" apt-get clean >/dev/null 2>&1 || true
	echo "$stamp" >"$new/.mantis-root"
	remove_root "$root"
	mv "$new" "$root"
}

# copy_pg15: this machine's PostgreSQL 15, with mantis as installed, into
# the root, and the shared libraries it needs that the root lacks (Debian
# 12's ICU, LDAP, libxml2: sid has other sonames), until none is missing
copy_pg15() {
	local lib missing i stamp
	[ -x /usr/lib/postgresql/15/bin/postgres ] || { log "no PostgreSQL 15 on this machine to copy"; return 1; }
	# again only when this machine's 15 or its mantis changed: a run may
	# be using the copy
	stamp=$(cat /usr/lib/postgresql/15/bin/postgres /usr/lib/postgresql/15/lib/mantis.so \
		/usr/share/postgresql/15/extension/mantis* 2>/dev/null | md5sum)
	[ "$(cat "$root/usr/lib/postgresql/15/.mantis-copy" 2>/dev/null)" = "$stamp" ] && return 0
	rm -rf "$root/usr/lib/postgresql/15" "$root/usr/share/postgresql/15"
	cp -a /usr/lib/postgresql/15 "$root/usr/lib/postgresql/15"
	cp -a /usr/share/postgresql/15 "$root/usr/share/postgresql/15"
	mkdir -p "$root/usr/local/lib/mantis-pg15"
	echo /usr/local/lib/mantis-pg15 >"$root/etc/ld.so.conf.d/mantis-pg15.conf"
	for i in 1 2 3 4 5; do
		chroot "$root" ldconfig
		missing=$(chroot "$root" sh -c 'ldd /usr/lib/postgresql/15/bin/* /usr/lib/postgresql/15/lib/*.so 2>/dev/null' |
			awk '/=> not found/ { print $1 }' | sort -u)
		[ -n "$(echo "$missing" | grep -v '^libLLVM')" ] || break
		for lib in $missing; do
			# llvmjit.so's LLVM 14: JIT is off in the tests
			case $lib in libLLVM*) continue ;; esac
			[ -e "/usr/lib/x86_64-linux-gnu/$lib" ] || { log "PostgreSQL 15 needs $lib, which this machine lacks"; return 1; }
			cp -L "/usr/lib/x86_64-linux-gnu/$lib" "$root/usr/local/lib/mantis-pg15/"
		done
	done
	if [ -n "$(echo "$missing" | grep -v '^libLLVM')" ]; then
		log "PostgreSQL 15's libraries are still missing in the root: $missing"
		return 1
	fi
	echo "$stamp" >"$root/usr/lib/postgresql/15/.mantis-copy"
}

# unpack_pg15_for_upgrade: Debian 12's main-suite PostgreSQL 15 in
# /opt/pg15-upgrade of the root, with mantis copied from this machine's 15
unpack_pg15_for_upgrade() {
	local ver dir=$root/opt/pg15-upgrade debs f
	ver=$(apt-cache madison postgresql-15 | awk -F'|' '$3 ~ /bookworm\/main/ { gsub(/ /, "", $2); print $2; exit }')
	[ -n "$ver" ] || { log "Debian 12's main suite has no postgresql-15"; return 1; }
	if [ "$(cat "$dir/.version" 2>/dev/null)" != "$ver" ]; then
		debs=$(mktemp -d)
		chmod 755 "$debs"
		(cd "$debs" && apt-get download -q "postgresql-15=$ver" "postgresql-client-15=$ver") >/dev/null 2>&1 ||
			{ rm -rf "$debs"; log "cannot download postgresql-15 $ver from Debian's archive"; return 1; }
		rm -rf "$dir"
		mkdir -p "$dir"
		for f in "$debs"/*.deb; do dpkg -x "$f" "$dir"; done
		rm -rf "$debs"
		echo "$ver" >"$dir/.version"
	fi
	for f in /usr/lib/postgresql/15/lib/mantis.so /usr/share/postgresql/15/extension/mantis*; do
		cmp -s "$f" "$dir$f" || cp -a "$f" "$dir$f"
	done
}

mkdir -p "$CACHE"
# one call at a time per version: a second waits for the root the first makes
exec 9>"$CACHE/pg$version.lock"
flock 9
if [ ! -f "$root/.mantis-root" ] || [ "$(cat "$root/.mantis-root")" != "$stamp" ]; then
	build_root
fi
if [ "$version" = 18 ]; then
	copy_pg15
	unpack_pg15_for_upgrade
fi
echo "$root"
