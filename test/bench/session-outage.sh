# test/bench/session-outage.sh — sourced by session.sh when OUTAGE=1 (not
# run alone): a session store with one of its three servers down for a
# whole mantis.tombstone_lifetime (issue 20, item 1).
#
#   OUTAGE=1 bash test/bench/session.sh
#
# Three servers on loopback, full mesh, no CURVE (as the other benchmarks),
# persistence on (flush_interval 1 s), mantis.tombstone_lifetime = LIFETIME,
# mantis.sync_interval = SYNC_MS.  Clients (pgbench -M prepared, CLIENTS per
# server) run on n1 and n2 only, setting UNIQUE keys with a 5-s ttl through
# bench_set(), a PL/pgSQL wrapper that catches "mantis store is full" (and
# "store memory is exhausted") and counts it in an unlogged sequence, so that
# a client goes on after a refused set (pgbench would abort it); successful
# sets are counted the same way.  The wrapper runs with
# mantis.transactional = off, so that the set fails inside it.
#
#   1. floor: the same script at full speed on n1 and n2 (n3 up), FLOOR_S
#      seconds, mantis.max_keys = 200000; RATE = 80% of the sets/s it held
#      (the machine must sustain it; TTL_RATE=<sets/s> forces it and skips
#      the floor, RATE_MAX caps it);
#   2. three new, empty servers start in their place with mantis.max_keys
#      = 3 x RATE x 5 s (room for the live keys three times over), and wait
#      until every store collects by acknowledgement;
#   3. markers: 3 x MARKERS keys set on n1 and held (and flushed) by n3:
#      mark:pre:* deleted on n1 just before n3 stops (n3 may or may not
#      have stored the deletion), mark:del:* deleted on n1 while n3 is down,
#      mark:exp:* with a ttl that ends about 10 s after n3 stops;
#   4. the load: pgbench -R RATE/2 on n1 and on n2 for PRE_S (all up) +
#      OUTAGE_S (n3 stopped with pg_ctl -m immediate, a crash: what it had
#      not flushed is lost) + RETURN_S (n3 started again, the load goes on);
#   5. after the load, each node's live markers are counted once more.
#
# Sampled every SAMPLE seconds (default 5) on each node that is up, into
# test/bench/results/session-outage.csv, and reported per sample: sets/s
# achieved and "store full" refusals (the sequences' deltas), registers held
# (keys live, expired_keys, deleted_keys: all count against max_keys; and the
# records of dead registers, which do not: dead_records, collapsed_records,
# leaves_with_bound),
# memory_used (the store's registers and values: the shared segment is
# sized at start, so the processes' RSS would say nothing more), live
# markers (mantis_registers('mark:')) and mantis_status.collection.  On
# n3's return: when it is connected to both peers, when it has completed a
# repair round with each (mantis_peers.repair_rounds, counted from its
# start), when its live markers are gone, and when n1's and n2's dead
# registers are back under a second's worth of writes.
#
# Verdicts: store-full refusals (sets, and registers from peers:
# rejected_no_room and the logs' "the store is full: N registers"); the
# peak of dead registers against max_keys; memory flat (mean of the last
# 20% of the outage within 10% of the last 10 s before it) or not;
# resurrected: live markers on n1 or n2 at any sample after the stop or at
# the end, and on n3 at the end.
#
# After the load, up to DRAIN_S more seconds for the events of the return
# not seen yet (the stores drained, n3's copies of the markers given up).
#
# Settings (environment): LIFETIME=60 (s)  OUTAGE_S=LIFETIME+TTL+25
# PRE_S=20  RETURN_S=45  DRAIN_S=60  FLOOR_S=20  SYNC_MS=5000  MARKERS=1000
# SAMPLE_OUTAGE=5 (s)  TTL_RATE (sets/s, no floor)  RATE_MAX (caps the
# floor's 80%)  STORE_MEMORY=64MB  CLIENTS=2 (per server)  BENCH_PORT=57100
# (servers on +1..3, replication on +51..53).  About 5 minutes with the
# defaults; the servers are stopped and their directory removed on any
# exit (session.sh's trap), the pgbench runs killed.
#
# shellcheck shell=bash disable=SC2154

LIFETIME=${LIFETIME:-60}
OUTAGE_S=${OUTAGE_S:-$((LIFETIME + TTL_S + 25))}
PRE_S=${PRE_S:-20}
RETURN_S=${RETURN_S:-45}
FLOOR_S=${FLOOR_S:-20}
DRAIN_S=${DRAIN_S:-60}
SYNC_MS=${SYNC_MS:-5000}
MARKERS=${MARKERS:-1000}
SAMPLE=${SAMPLE_OUTAGE:-5}
RATE_MAX=${RATE_MAX:-0}
LOAD_NODES="1 2"
CSV="$HERE/results/$BENCH_NAME.csv"
# shellcheck disable=SC2034 # read by start_node in session.sh
EXTRA_CONF="mantis.tombstone_lifetime = $LIFETIME
mantis.sync_interval = $SYNC_MS"

elapsed() { printf '%.1f' "$(calc "$(now) - $T_START")"; }
up() { as_pg "$BIN/pg_isready" -q -h "$WORK" -p "$(port "$1")"; }
collecting() {	# every node collects by acknowledgement
	local n
	for n in $NODES; do [ "$(psql_n "$n" -c "SELECT collection FROM mantis_status")" = "by acknowledgement" ] || return 1; done
}
until_time() {	# until_time <t since T_START>: the load's schedule
	while [ "$(calc "$(now) - $T_START < $1")" = 1 ]; do sleep 0.2; done
}
seq_sum() {	# seq_sum <sequence>: its count on n1 and n2, summed
	local n s=0
	for n in $LOAD_NODES; do s=$((s + $(psql_n "$n" -c "SELECT last_value FROM $1"))); done
	echo "$s"
}
marks_live() { psql_n "$1" -c "SELECT count(*) FROM mantis_registers('mark:')"; }

bench_objects() {	# bench_objects <n>: the wrapper and its counters
	psql_n "$1" >/dev/null <<'SQL'
CREATE UNLOGGED SEQUENCE IF NOT EXISTS bench_ok MINVALUE 0 START 0;
CREATE UNLOGGED SEQUENCE IF NOT EXISTS bench_full MINVALUE 0 START 0;
CREATE UNLOGGED SEQUENCE IF NOT EXISTS bench_nomem MINVALUE 0 START 0;
CREATE OR REPLACE FUNCTION bench_set(k text, v text, ttl interval) RETURNS void
LANGUAGE plpgsql SET mantis.transactional = off AS $$
BEGIN
	PERFORM mantis_set(k, v, ttl => ttl);
	PERFORM nextval('bench_ok');
EXCEPTION WHEN out_of_memory THEN
	IF SQLERRM LIKE '%store is full%' THEN
		PERFORM nextval('bench_full');
	ELSE
		PERFORM nextval('bench_nomem');
	END IF;
END $$;
SQL
}

# load <name> <seconds> <rate per node, 0: full speed>: pgbench on n1 and n2
# in the background (LOAD_PIDS)
load() {
	local n rflag=()
	[ "$3" = 0 ] || rflag=(-R "$3")
	LOAD_PIDS=""
	for n in $LOAD_NODES; do
		as_pg "$BIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$2" "${rflag[@]}" -D c=0 \
			-h "$WORK" -p "$(port "$n")" -f "$WORK/outage.n$n.sql" postgres >"$WORK/$1.n$n.out" 2>&1 &
		LOAD_PIDS="$LOAD_PIDS $!"
	done
}
load_wait() {	# load_wait <name>: the aborted clients, reported
	local p n rc=0
	for p in $LOAD_PIDS; do wait "$p" || rc=1; done
	LOAD_PIDS=""
	ABORTED=0
	for n in $LOAD_NODES; do
		ABORTED=$((ABORTED + $(grep -c -E 'client [0-9]+ (script [0-9]+ )?aborted' "$WORK/$1.n$n.out" || true)))
	done
	if [ "$rc" != 0 ] || [ "$ABORTED" != 0 ]; then
		say "  (pgbench reported errors; first lines of each node's output follow)"
		for n in $LOAD_NODES; do grep -m3 -E 'error|aborted|ERROR' "$WORK/$1.n$n.out" | sed "s/^/  n$n: /" | tee -a "$OUT" || true; done
	fi
}

# ---- the sampler: a row per node that answers, every $SAMPLE s
echo "t,phase,node,ok,full,nomem,keys,expired_keys,deleted_keys,memory_used,collected_expired,collected_deletions,refused_collected,dead_marks_live,collection,dead_records,collapsed_records,leaves_with_bound" >"$CSV"
T_START=$(now)
sampler() {
	local n row phase
	while :; do
		phase=$(cat "$WORK/phase" 2>/dev/null || echo setup)
		for n in $NODES; do
			row=$(psql_n "$n" -c "SELECT (SELECT last_value FROM bench_ok), (SELECT last_value FROM bench_full), (SELECT last_value FROM bench_nomem),
				keys, expired_keys, deleted_keys, memory_used, collected_expired, collected_deletions, refused_collected,
				(SELECT count(*) FROM mantis_registers('mark:') WHERE key NOT LIKE 'mark:exp:%'), translate(collection, ',', ';'),
				coalesce((to_jsonb(s)->>'dead_records')::bigint, 0), coalesce((to_jsonb(s)->>'collapsed_records')::bigint, 0),
				coalesce((to_jsonb(s)->>'leaves_with_bound')::bigint, 0) FROM mantis_status s" 2>/dev/null) || continue
			printf '%s,%s,n%s,%s\n' "$(elapsed)" "$phase" "$n" "$row" >>"$CSV"
		done
		sleep "$SAMPLE"
	done
}
phase() { echo "$1" >"$WORK/phase"; }

printf '\\set c :c + 1\nSELECT bench_set('"'"'sess:'"'"' || '"'"'n%s'"'"' || '"'"':'"'"' || :client_id || '"'"':'"'"' || :c, '"'"'%s'"'"', interval '"'"'%d seconds'"'"');\n' \
	1 '{"user": 42}' "$TTL_S" >"$WORK/outage.n1.sql"
sed 's/n1/n2/' "$WORK/outage.n1.sql" >"$WORK/outage.n2.sql"
chmod 644 "$WORK"/outage.n*.sql

: >"$OUT"
say "mantis session benchmark with an outage, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), loopback"
say "$(uname -srm); $("$BIN/postgres" --version); mantis $(git -C "$HERE" describe --always --dirty 2>/dev/null || echo '?')"
say "load before: $(uptime)"
say "3 servers, full mesh, no CURVE, persistence on; tombstone_lifetime $LIFETIME s, sync_interval $SYNC_MS ms;"
say "pgbench -M prepared on n1 and n2, $CLIENTS clients each, unique keys with a $TTL_S-s ttl; outage of n3 $OUTAGE_S s"

# ---- floor and rate
RATE=${TTL_RATE:-}
MAX_KEYS=200000
[ -z "$RATE" ] || MAX_KEYS=$((3 * RATE * TTL_S))
for n in $NODES; do start_node "$n"; bench_objects "$n"; done
for n in $NODES; do wait_until 30 connected "$n" || { say "n$n did not connect"; exit 1; }; done
sampler &
SAMPLER=$!
if [ -z "$RATE" ]; then
	wait_until 60 collecting || { say "the servers do not collect by acknowledgement"; exit 1; }
	phase floor
	ok0=$(seq_sum bench_ok)
	t0=$(now)
	load floor "$FLOOR_S" 0
	load_wait floor
	FLOOR_RATE=$(calc "($(seq_sum bench_ok) - $ok0) / ($(now) - $t0)" | cut -d. -f1)
	RATE=$((FLOOR_RATE * 8 / 10 / 100 * 100))
	[ "$RATE_MAX" = 0 ] || [ "$RATE" -le "$RATE_MAX" ] || RATE=$RATE_MAX
	say
	say "== floor: $FLOOR_RATE sets/s on n1 + n2 at full speed ($FLOOR_S s, n3 up, aborted clients $ABORTED); the outage runs at $RATE sets/s"
	MAX_KEYS=$((3 * RATE * TTL_S))
	# new servers, empty: the floor's rows would not all fit the smaller
	# max_keys, and rows held back at load would hold collection back
	phase restart
	for n in $NODES; do
		as_pg "$BIN/pg_ctl" -D "$WORK/n$n" -m fast stop >/dev/null
		cat "$WORK/n$n.log" >>"$WORK/floor.n$n.log"
		rm -rf "$WORK/n$n" "$WORK/n$n.log"
	done
	for n in $NODES; do start_node "$n"; bench_objects "$n"; done
	for n in $NODES; do wait_until 30 connected "$n" || { say "n$n did not connect"; exit 1; }; done
else
	say
	say "== TTL_RATE: $RATE sets/s, no floor"
fi
RATE_N=$((RATE / 2))
say "mantis.max_keys = $MAX_KEYS (3 x $RATE sets/s x $TTL_S s): about $((RATE * TTL_S)) keys live per node; pgbench -R $RATE_N on n1 and on n2"
wait_until 90 all_empty || { say "the floor's keys were not collected: $(status_sum 'keys + expired_keys + deleted_keys')"; exit 1; }
wait_until 60 collecting || { say "the servers do not collect by acknowledgement: $(status_sum "translate(collection, ' ', '_')")"; exit 1; }

# ---- markers that n3 holds and has flushed
phase markers
EXP_S=$((PRE_S + 10))
psql_n 1 -c "SELECT count(mantis_set('mark:pre:' || i, 'v')) + count(mantis_set('mark:del:' || i, 'v'))
	+ count(mantis_set('mark:exp:' || i, 'v', ttl => interval '$EXP_S seconds')) FROM generate_series(1, $MARKERS) i" >/dev/null
n3_marked() { [ "$(marks_live 3)" = $((3 * MARKERS)) ]; }
wait_until 30 n3_marked || { say "n3 did not receive the markers"; exit 1; }
psql_n 3 -c "SELECT mantis_flush()" >/dev/null

# ---- the load, the outage, the return
say
say "== the load: all up $PRE_S s, n3 stopped $OUTAGE_S s, n3 back $RETURN_S s"
phase pre
FULL0=$(seq_sum bench_full) NOMEM0=$(seq_sum bench_nomem) OK0=$(seq_sum bench_ok)
NR0=$(peers_sum rejected_no_room) LE0=$(log_errors)
T_LOAD=$(calc "$(now) - $T_START")
load outage $((PRE_S + OUTAGE_S + RETURN_S)) "$RATE_N"
until_time "$(calc "$T_LOAD + $PRE_S")"
psql_n 1 -c "SELECT count(mantis_delete('mark:pre:' || i)) FROM generate_series(1, $MARKERS) i" >/dev/null
as_pg "$BIN/pg_ctl" -D "$WORK/n3" -m immediate stop >/dev/null
T_STOP=$(calc "$(now) - $T_START")
psql_n 1 -c "SELECT count(mantis_delete('mark:del:' || i)) FROM generate_series(1, $MARKERS) i" >/dev/null
phase outage	# from here no mark:pre/mark:del key may be live on n1 or n2
sayf 'n3 stopped (-m immediate) at t = %.1f s; mark:pre:* deleted on n1 just before, mark:del:* just after\n' "$T_STOP"

until_time "$(calc "$T_STOP + $OUTAGE_S")"
phase return
T_RET=$(calc "$(now) - $T_START")
as_pg "$BIN/pg_ctl" -D "$WORK/n3" -l "$WORK/n3.log" -w start >/dev/null
sayf 'n3 started again at t = %.1f s (%.1f s after it stopped), accepting connections %.1f s later\n' \
	"$T_RET" "$(calc "$T_RET - $T_STOP")" "$(calc "$(now) - $T_START - $T_RET")"
# the catch-up, event by event, until the load ends and then, the load
# stopped, for at most DRAIN_S more (times from n3's start)
T_CONN="" T_ROUNDS="" T_N3CLEAN="" T_DRAIN=""
T_END=$(calc "$T_LOAD + $PRE_S + $OUTAGE_S + $RETURN_S")
catch_up() {	# one look; false once every event has been seen
	local t d1 d2 d3
	t=$(printf '%.1f' "$(calc "$(now) - $T_START - $T_RET")")
	if [ -z "$T_CONN" ] && up 3 && connected 3; then T_CONN=$t; fi
	if [ -z "$T_ROUNDS" ] && up 3 && [ "$(psql_n 3 -c "SELECT count(*) FROM mantis_peers WHERE repair_rounds > 0")" -ge 2 ]; then T_ROUNDS=$t; fi
	if [ -z "$T_N3CLEAN" ] && up 3 && [ "$(marks_live 3 2>/dev/null || echo x)" = 0 ]; then T_N3CLEAN=$t; fi
	if [ -z "$T_DRAIN" ] && [ -n "$T_CONN" ]; then
		read -r d1 d2 d3 <<<"$(status_sum 'expired_keys + deleted_keys')"
		[ "$d1" -le "$RATE" ] && [ "$d2" -le "$RATE" ] && [ "$d3" -le "$RATE" ] && T_DRAIN=$t
	fi
	[ -z "$T_CONN" ] || [ -z "$T_ROUNDS" ] || [ -z "$T_N3CLEAN" ] || [ -z "$T_DRAIN" ]
}
while [ "$(calc "$(now) - $T_START < $T_END")" = 1 ]; do catch_up || true; sleep 0.5; done
load_wait outage
phase drain
T_DRAIN0=$(now)
while catch_up && [ "$(calc "$(now) - $T_DRAIN0 < $DRAIN_S")" = 1 ]; do sleep 0.5; done
phase after
FULL=$(($(seq_sum bench_full) - FULL0)) NOMEM=$(($(seq_sum bench_nomem) - NOMEM0)) SETS=$(($(seq_sum bench_ok) - OK0))
NR1=$(peers_sum rejected_no_room) LE1=$(log_errors)
FINAL_MARKS=$(for n in $NODES; do marks_live "$n"; done | tr '\n' ' ')
N3_PEERS=$(psql_n 3 -c "SELECT string_agg(node_name || ' ' || repair_rounds || ' rounds, adopted ' || adopted, '; ' ORDER BY node_name) FROM mantis_peers")
kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=""

# ---- the report
say
say "== per sample (sets/s and full/s on n1 + n2; held = keys + expired_keys + deleted_keys, of max_keys $MAX_KEYS;"
say "   dead = expired_keys + deleted_keys; marks = mark:pre/mark:del keys live; $CSV)"
awk -F, -v ts="$T_STOP" '
	$2 == "pre" || $2 == "outage" || $2 == "return" || $2 == "drain" {
		t = $1; n = $3
		c = sprintf("%7d %6d %5.1f %5d", $7 + $8 + $9, $8 + $9, $10 / 1048576, $14)
		if (n == "n1") { k++; row[k] = sprintf("%6.0f %-7s", t - ts, $2); coll[k] = substr($15, 1, 40) }
		cell[k, n] = c
		if (n in lt && t > lt[n]) { rate[k] += ($4 - lok[n]) / (t - lt[n]); full[k] += ($5 - lfull[n]) / (t - lt[n]); got[k]++ }
		if (n != "n3") { lt[n] = t; lok[n] = $4; lfull[n] = $5 }
	}
	END {
		printf "%6s %-7s %7s %7s | %-27s | %-27s | %-27s | %s\n", "t-stop", "phase", "sets/s", "full/s",
			"n1 held   dead    MB marks", "n2 held   dead    MB marks", "n3 held   dead    MB marks", "n1 collection"
		for (i = 2; i <= k; i++) {
			if (got[i] < 2) continue
			if (!((i, "n3") in cell)) cell[i, "n3"] = sprintf("%27s", "(down)")
			printf "%s %7.0f %7.0f | %s | %s | %s | %s\n", row[i], rate[i], full[i], cell[i, "n1"], cell[i, "n2"], cell[i, "n3"], coll[i]
		}
	}' "$CSV" | tee -a "$OUT"

say
say "== verdicts"
nr=0; for v in $NR1; do nr=$((nr + v)); done; for v in $NR0; do nr=$((nr - v)); done
FIRST_FULL=$(awk -F, -v ts="$T_STOP" '($3 == "n1" || $3 == "n2") && ($2 == "pre" || $2 == "outage" || $2 == "return") {
	if (!($3 in f0)) f0[$3] = $5; else if ($5 > f0[$3] && first == "") first = $1 - ts } END { print first }' "$CSV")
sayf 'sets: %d in %d s of load (%.0f a second; asked %d), aborted clients %d\n' "$SETS" "$((PRE_S + OUTAGE_S + RETURN_S))" \
	"$(div "$SETS" "$((PRE_S + OUTAGE_S + RETURN_S))")" "$RATE" "$ABORTED"
sayf 'store-full errors: %d sets refused "mantis store is full"%s, %d "store memory is exhausted"; %d registers from peers refused for want of room (rejected_no_room), %d such log lines\n' \
	"$FULL" "$([ -z "$FIRST_FULL" ] || printf ' (the first by the sample %.0f s after the stop)' "$FIRST_FULL")" "$NOMEM" "$nr" "$((LE1 - LE0))"
awk -F, -v ts="$T_STOP" -v tr="$T_RET" -v mk="$MAX_KEYS" -v rate="$RATE" -v life="$LIFETIME" '
	$3 == "n1" || $3 == "n2" {
		t = $1; n = $3; d = $8 + $9; h = $7 + $8 + $9
		if (t >= ts && t < tr) { if (d > dmax[n]) dmax[n] = d; if (h > hmax[n]) hmax[n] = h; mo[n, ++no[n]] = $10 }
		if (t < ts && t >= ts - 10) { pre[n] += $10; npre[n]++ }
		if (($2 == "outage" || $2 == "return" || $2 == "drain" || $2 == "after") && $14 > 0 + res[n]) res[n] = $14
		if (t >= ts && t < tr) { if ($16 > rmax[n]) rmax[n] = $16; if ($17 > cmax[n]) cmax[n] = $17; if ($18 > bmax[n]) bmax[n] = $18 }
	}
	END {
		printf "dead registers peak during the outage: n1 %d, n2 %d (held at most n1 %d, n2 %d, of max_keys %d; a lifetime of %d s at %d sets/s is %d dead registers)\n",
			dmax["n1"], dmax["n2"], hmax["n1"], hmax["n2"], mk, life, rate, rate * life
		flat = 1
		for (j = 1; j <= 2; j++) {
			n = "n" j; c = no[n]; if (npre[n] == 0) { flat = -1; continue } if (c < 5) { flat = 0; continue }
			s = 0; m = 0; from = int(c * 0.8) + 1
			for (i = from; i <= c; i++) { s += mo[n, i]; if (mo[n, i] > m) m = mo[n, i] }
			r = (s / (c - from + 1)) / (pre[n] / npre[n]); if (r > 1.10) flat = 0
			line = line sprintf("%s %.1f MB before the stop, %.1f MB in the last 20%% of the outage (x%.2f), at most %.1f MB; ",
				n, pre[n] / npre[n] / 1048576, s / (c - from + 1) / 1048576, r, m / 1048576)
		}
		printf "memory_used: %s\nmemory: %s\n", line, flat < 0 ? "unknown (no sample in the 10 s before the stop: a SAMPLE_OUTAGE longer than PRE_S)" : flat ? "flat (the last 20% of the outage within 10% of the 10 s before it)" : "NOT flat (the last 20% of the outage more than 10% above the 10 s before it)"
		printf "resurrected on n1/n2 (mark:pre/mark:del keys live in any sample after the stop): n1 %d, n2 %d\n", res["n1"], res["n2"]
		printf "records of dead registers during the outage (mantis.max_dead_records; 0 before 1.4): held at most n1 %d, n2 %d; collapsed by its end n1 %d, n2 %d; leaves with a bound at most n1 %d, n2 %d\n",
			rmax["n1"], rmax["n2"], cmax["n1"], cmax["n2"], bmax["n1"], bmax["n2"]
	}' "$CSV" | tee -a "$OUT"
read -r fm1 fm2 fm3 <<<"$FINAL_MARKS"
say "n3 back (times from its start): connected to both peers after ${T_CONN:-never} s, a repair round with each after ${T_ROUNDS:-never} s"
say "  ($N3_PEERS); its copies of the deleted markers gone after ${T_N3CLEAN:-never} s;"
say "  every node held at most $RATE dead registers again after ${T_DRAIN:-never} s (the load stopped at $(printf '%.0f' "$(calc "$T_END - $T_RET")") s, then up to $DRAIN_S s more)"
say "live markers at the end (of $((3 * MARKERS)) set, all deleted or expired by then): n1 $fm1, n2 $fm2, n3 $fm3"
say "verdict: store-full errors: $FULL sets refused, $NOMEM out of store memory, $nr registers from peers refused"
say "verdict: dead registers peak: $(awk -F, -v ts="$T_STOP" -v tr="$T_RET" '($3 == "n1" || $3 == "n2") && $1 >= ts && $1 < tr && $8 + $9 > m { m = $8 + $9 } END { print m + 0 }' "$CSV") of max_keys $MAX_KEYS"
say "verdict: memory: $(grep -o '^memory: [A-Za-z ]*[a-z]' "$OUT" | tail -1 | sed 's/^memory: //')"
say "verdict: resurrected: $((fm1 + fm2)) on n1/n2 at the end (at most $(awk -F, '($3 == "n1" || $3 == "n2") && ($2 == "outage" || $2 == "return" || $2 == "drain") && $14 > m { m = $14 } END { print m + 0 }' "$CSV") in a sample); on n3, $fm3 at the end, at most $(awk -F, '$3 == "n3" && ($2 == "return" || $2 == "drain") && $14 > m { m = $14 } END { print m + 0 }' "$CSV") in a sample after its start (gone after ${T_N3CLEAN:-never} s)"
say
say "load after: $(uptime)"
