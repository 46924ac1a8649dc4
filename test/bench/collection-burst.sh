# test/bench/collection-burst.sh — sourced by collection.sh when BURST=1
# (not run alone): the case of issue 20 at its own pace, timed.
#
#   BURST=1 bash test/bench/collection.sh
#
# 120,000 one-second keys set in batches over 15 s on 2 servers with
# mantis.max_keys = 20000: batch k (of BATCHES = 15) sets PER_NODE = 4,000
# unique keys with ttl => interval '1 second' on each server at once, at
# start + k seconds by the wall clock (the rate is the workload), so each
# server takes 8,000 more registers a batch.  The store holds the batch
# just written, the one expiring now and whatever of the one before is
# still dead: each batch finds room only if the registers that expired
# about a second before are gone on both servers.  The servers are
# collection.sh's (replication and persistence on, flush_interval 1 s,
# peers connected and collecting by acknowledgement).
#
# Each batch is one statement per server calling burst_set() on each key,
# a PL/pgSQL wrapper with mantis.transactional = off that catches "mantis
# store is full" and counts it, so a batch goes on past a refused set.
# Per batch it reports the registers each server held as it began (live +
# expired + deletion markers, as mantis_status shows them: all count
# against max_keys), the sets refused, and how long the batch took; then
# how long after the last batch expired both stores were empty, the
# registers refused between peers for want of room (rejected_no_room), the
# "store is full" lines in the logs, the load average before and after,
# and a verdict line.
#
# test/t/038_collection_sweep.pl checks the same case without a clock
# (each batch waits for its room): that every register is collected.
# This measures whether the room comes back within the second.
#
# shellcheck shell=bash disable=SC2154 # NODES, WORK, MAX_KEYS: collection.sh

BATCHES=${BATCHES:-15}
PER_NODE=${PER_NODE:-4000}

for n in $NODES; do
	psql_n "$n" >/dev/null <<'SQL'
CREATE FUNCTION burst_set(lo int, hi int) RETURNS int
LANGUAGE plpgsql SET mantis.transactional = off AS $$
DECLARE
	refused int := 0;
BEGIN
	FOR i IN lo .. hi LOOP
		BEGIN
			PERFORM mantis_set('s' || i, 'v', ttl => interval '1 second');
		EXCEPTION WHEN out_of_memory THEN
			IF SQLERRM NOT LIKE '%store is full%' THEN
				RAISE;
			END IF;
			refused := refused + 1;
		END;
	END LOOP;
	RETURN refused;
END $$;
SQL
done

now() { date +%s.%N; }
held() { psql_n "$1" -c "SELECT keys + expired_keys + deleted_keys || ' (' || expired_keys || ' expired)' FROM mantis_status"; }

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
say "burst: $BATCHES batches of $((2 * PER_NODE)) one-second keys ($PER_NODE set on each server at once), one a second; max_keys $MAX_KEYS"
REFUSED=0
START=$(echo "$(now) + 0.5" | bc)
for k in $(seq 0 $((BATCHES - 1))); do
	at=$(echo "$START + $k" | bc)
	wait_s=$(echo "$at - $(now)" | bc)
	late=""
	if [ "$(echo "$wait_s > 0" | bc)" = 1 ]; then sleep "$wait_s"; else late=" (late by $(printf '%.2f' "$(echo "0 - $wait_s" | bc)") s)"; fi
	h1=$(held 1) h2=$(held 2)
	t0=$(now)
	for n in $NODES; do
		lo=$(( (k * 2 + n - 1) * PER_NODE ))
		psql_n "$n" -c "SELECT burst_set($lo, $((lo + PER_NODE - 1)))" >"$WORK/burst.n$n" 2>&1 &
	done
	wait
	r1=$(cat "$WORK/burst.n1") r2=$(cat "$WORK/burst.n2")
	case "$r1$r2" in *[!0-9]*) echo "batch $k failed: $r1 / $r2" >&2; exit 1 ;; esac
	REFUSED=$((REFUSED + r1 + r2))
	LAST_EXPIRY=$(echo "$(now) + 1" | bc)
	sayf 'batch %2d%s: held as it began n1 %s, n2 %s; store full: %d sets refused (n1 %d, n2 %d); took %.2f s\n' \
		"$k" "$late" "$h1" "$h2" "$((r1 + r2))" "$r1" "$r2" "$(echo "$(now) - $t0" | bc)"
done

# until both stores are empty (or DRAIN_S seconds)
DRAIN_S=${DRAIN_S:-60}
empty_after=""
deadline=$(echo "$(now) + $DRAIN_S" | bc)
while [ "$(echo "$(now) < $deadline" | bc)" = 1 ]; do
	e1=$(psql_n 1 -c "SELECT keys + expired_keys + deleted_keys = 0 FROM mantis_status")
	e2=$(psql_n 2 -c "SELECT keys + expired_keys + deleted_keys = 0 FROM mantis_status")
	if [ "$e1$e2" = tt ]; then empty_after=$(echo "$(now) - $LAST_EXPIRY" | bc); break; fi
	sleep 0.05
done
if [ -n "$empty_after" ]; then
	sayf 'both stores empty %.2f s after the last batch expired\n' "$empty_after"
else
	say "the stores were not empty $DRAIN_S s after the last batch: n1 held $(held 1), n2 $(held 2)"
fi
c1=$(psql_n 1 -c "SELECT collected_expired FROM mantis_status")
c2=$(psql_n 2 -c "SELECT collected_expired FROM mantis_status")
nr=$(psql_n 1 -c "SELECT coalesce(sum(rejected_no_room), 0) FROM mantis_peers")
nr=$((nr + $(psql_n 2 -c "SELECT coalesce(sum(rejected_no_room), 0) FROM mantis_peers")))
full=$(cat "$WORK"/n*.log | grep -c -E 'store is full' || true)
say "collected_expired: n1 $c1, n2 $c2 (of $((BATCHES * 2 * PER_NODE)) keys set less $REFUSED refused); registers from peers refused for want of room: $nr; \"store is full\" lines in the logs: $full"
say "load average (1, 5, 15 min) before: $LOAD0; after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$REFUSED" = 0 ] && [ "$nr" = 0 ] && [ -n "$empty_after" ]; then
	say "verdict: PASS: no store full in $BATCHES batches a second apart; both stores empty $(printf '%.2f' "$empty_after") s after the last expiry"
else
	say "verdict: FAIL: $REFUSED sets refused as \"store is full\", $nr registers refused between peers$([ -z "$empty_after" ] && echo ", stores not empty")"
fi
