# When the budget of records is full (mantis.max_dead_records), the oldest
# record collapses into its leaf's bound (R7 of common/rules.h, issue 20),
# which persists as records do and is collected as one dead register.
#
# n1's one peer never comes.  With a budget of 128 records (one a
# partition), 300 deletions are compacted only if records collapse: every
# deletion leaves the registers.  A compaction writes the records and the
# bounds (rows of records: record count at byte 20, bound count after the
# records).  A crash restart loads them, and a row restored with the 300
# old values gives back none: each key is refused by its record or its
# leaf's bound.  Once the lifetime has passed, records and bounds are
# collected (the refusal horizon reaches the deletions) and a compaction
# writes none.  Without collapse, 172 deletions or more would stay in full.
# mantis_status counts it all (records held, their room, collapsed, leaves
# with a bound, collected), and the first collapse is logged once.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $listen = PostgreSQL::Test::Cluster::get_free_port();
my $absent = PostgreSQL::Test::Cluster::get_free_port();
my $n1 = mantis_node('n1', qq{
mantis.listen = 'tcp://127.0.0.1:$listen'
mantis.peers = 'tcp://127.0.0.1:$absent'
mantis.sync_interval = '200ms'
mantis.flush_interval = '1h'
mantis.compact_rows = 1
mantis.tombstone_lifetime = '10s'
mantis.max_dead_records = 128
});

sub sql { my ($q) = @_; return $n1->safe_psql('postgres', $q) }

# records and bounds in the rows: "records bounds" summed over the rows of records
sub stored_dead
{
	return sql(q{
	  WITH r AS (SELECT registers b FROM mantis_stores WHERE get_byte(registers, 5) & 1 = 1),
	       c AS (SELECT b, (get_byte(b, 20)::int8 << 24) + (get_byte(b, 21) << 16) +
	                       (get_byte(b, 22) << 8) + get_byte(b, 23) AS nrec FROM r)
	  SELECT coalesce(sum(nrec), 0) || ' ' ||
	         coalesce(sum((get_byte(b, (24 + 40 * nrec)::int)::int8 << 24) +
	                      (get_byte(b, (25 + 40 * nrec)::int) << 16) +
	                      (get_byte(b, (26 + 40 * nrec)::int) << 8) +
	                      get_byte(b, (27 + 40 * nrec)::int)), 0)
	  FROM c});
}

sub compact_and_wait
{
	my $before = sql(q{SELECT max(id) FROM mantis_stores});
	sql(q{SELECT mantis_set('tick', clock_timestamp()::text)});
	sql(q{SELECT mantis_flush()});
	$n1->poll_query_until('postgres', qq{SELECT min(id) > $before FROM mantis_stores})
	  or die 'no compaction';
}

# --- 300 keys in one row, kept aside as a backup would ------------------------
sql(q{SELECT count(mantis_set('k' || i, 'old ' || i)) FROM generate_series(1, 300) i});
sql(q{SELECT mantis_flush()});
my ($row_clock, $row_hex) = split /\|/, sql(q{SELECT s.clock, encode(s.registers, 'hex')
	FROM mantis_stores s WHERE (SELECT count(*) FROM mantis_decode(s.registers) d WHERE d.key LIKE 'k%') = 300
	ORDER BY s.id DESC LIMIT 1});
ok(defined $row_hex && length $row_hex > 0, 'a row holds the 300 old values');
# (no periodic flush until now, so that the 300 went in one row, by
# mantis_flush(): a flush every 100 ms could split them; a shorter
# interval applies at once)
sql(q{ALTER SYSTEM SET mantis.flush_interval = '100ms'; SELECT pg_reload_conf()});

# --- 300 deletions, 128 records: collapse -------------------------------------
my $deleted_at = sql(q{SELECT clock_timestamp() - interval '5 ms'});
sql(q{SELECT count(mantis_delete('k' || i)) FROM generate_series(1, 300) i});
$n1->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
  or diag('deletions still in full: ' . sql(q{SELECT deleted_keys FROM mantis_status}));
is(sql(q{SELECT deleted_keys FROM mantis_status}), '0',
	'every deletion left the registers: records collapsed to make room');
# every deletion was compacted into a record (or, late, collected in full):
# a record is held, collapsed or collected
is(sql(q{SELECT dead_records_max || ' ' || (dead_records > 0 AND dead_records <= dead_records_max) || ' ' ||
	            (collapsed_records > 0) || ' ' || (leaves_with_bound > 0) || ' ' ||
	            (dead_records + collapsed_records + collected_records + collected_deletions)
	       FROM mantis_status}),
	'128 true true true 300',
	'mantis_status: records held within their room of 128, collapsed, leaves with a bound; each deletion counted once');
$n1->wait_for_log(qr/LOG:  mantis collapsed records of dead registers into their leaves' bounds: the budget of records is full/);
my @collapse_logs = slurp_file($n1->logfile) =~ /mantis collapsed records of dead registers/g;
is(scalar(@collapse_logs), 1, 'the first collapse is logged, once for all the collapses that follow');
like(slurp_file($n1->logfile), qr/DETAIL:  \d+ records are held, room for 128 shared evenly by 128 partitions \(one whose share is full collapses\); \d+ collapsed since the server started\. A write older than the oldest record kept may now be refused/,
	'saying what it costs');
compact_and_wait();
my ($nrec, $nbounds) = split / /, stored_dead();
ok($nrec > 0 && $nrec <= 128, "a compaction wrote the records ($nrec, at most the budget)");
ok($nbounds > 0, "and the bounds ($nbounds)");

# --- a crash restart loads them; the restored row gives back nothing -----------
my $log_at = -s $n1->logfile;
kill_and_start($n1);
wait_loaded($n1);
like(slurp_file($n1->logfile, $log_at), qr/mantis loaded $nrec records of dead registers/,
	'the crash restart loaded the records');
# the lifetime may already be collecting them: each is held or collected
is(sql(qq{SELECT dead_records + collected_records = $nrec AND leaves_with_bound <= $nbounds FROM mantis_status}), 't',
	'mantis_status after the restart: the records loaded are held or collected, the bounds loaded counted');
$log_at = -s $n1->logfile;
sql(qq{INSERT INTO mantis_stores (clock, node, registers)
       VALUES ('$row_clock', 'restored', decode('$row_hex', 'hex'))});
sql(q{SELECT mantis_flush()});
$n1->wait_for_log(qr/mantis loaded \d+ registers from 1 rows/, $log_at);
is(sql(q{SELECT count(*) FROM generate_series(1, 300) i WHERE mantis_get('k' || i) IS NOT NULL}), '0',
	'no old value comes back: each refused by its record or its leaf\'s bound');

# --- the lifetime collects records and bounds ---------------------------------
$n1->poll_query_until('postgres',
	qq{SELECT refusal_horizon IS NOT NULL AND refusal_horizon >= '$deleted_at'::timestamptz
	     FROM mantis_status})
  or diag('the refusal horizon never reached the deletions');
compact_and_wait();
is(stored_dead(), '0 0', 'collected: the next compaction writes no record and no bound');
is(sql(q{SELECT dead_records || ' ' || leaves_with_bound || ' ' || collected_records FROM mantis_status}),
	"0 0 $nrec", 'mantis_status: no record held, no leaf with a bound, every record loaded counted collected');
is(sql(q{SELECT count(*) FROM generate_series(1, 300) i WHERE mantis_get('k' || i) IS NOT NULL}), '0',
	'and the keys stay deleted');

$n1->stop;
done_testing();
