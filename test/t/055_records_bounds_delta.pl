# A collapse's bound goes into mantis_stores with the next flush, not with a
# compaction (R7 of common/rules.h, src/store/DEAD.md "What remains" 2-3),
# and a crash restart between collapses and any compaction loads a
# consistent store.
#
# n1's one peer never comes; compactions are rare (mantis.compact_rows is
# large).  20,000 live keys, then 300 keys whose row is kept aside as a
# backup would; the 300 are deleted into a budget of 128 records (one a
# partition): records collapse into their leaves' bounds, and not one
# compaction follows (the table's first row stays).  A flush writes the
# bounds; a crash restart then loads:
#	- every live key, including those of the leaves with a bound (a bound
#	  refused a register of the rows at or below it: about 50 live keys
#	  lost at each restart, before);
#	- none of the 300 (the dead registers in full of the older rows are
#	  taken as collapsed into the bound, taking no room), and nothing held
#	  back (mantis_status.held_back = 0);
# a row restored with the 300 old values gives back none, and the lifetime
# then collects the records and bounds (no hole stops it).
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
mantis.compact_rows = 100000
mantis.tombstone_lifetime = '15s'
mantis.max_dead_records = 128
});

sub sql { my ($q) = @_; return $n1->safe_psql('postgres', $q) }

# --- live keys, and 300 keys in one row kept aside -----------------------------
sql(q{SELECT count(mantis_set('live' || i, 'v' || i)) FROM generate_series(1, 20000) i});
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
my $first_row = sql(q{SELECT min(id) FROM mantis_stores});

# --- 300 deletions, 128 records: collapses, and no compaction -----------------
my $deleted_at = sql(q{SELECT clock_timestamp() - interval '5 ms'});
sql(q{SELECT count(mantis_delete('k' || i)) FROM generate_series(1, 300) i});
$n1->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
  or diag('deletions still in full: ' . sql(q{SELECT deleted_keys FROM mantis_status}));
is(sql(q{SELECT deleted_keys FROM mantis_status}), '0',
	'every deletion left the registers: records collapsed to make room');
sql(q{SELECT mantis_flush()});
is(sql(q{SELECT min(id) FROM mantis_stores}), $first_row,
	'the collapses asked for no compaction: the first row is still there');
ok(sql(q{SELECT count(*) FROM mantis_stores WHERE get_byte(registers, 5) & 1 = 1}) > 0,
	'a flush wrote the bounds (a row flagged with records)');
diag('rows of bounds: ' . sql(q{SELECT count(*) || ' rows, ' || sum(octet_length(registers)) || ' bytes'
	FROM mantis_stores WHERE get_byte(registers, 5) & 1 = 1}) . '; all rows: ' .
	sql(q{SELECT count(*) || ' rows, ' || sum(octet_length(registers)) || ' bytes' FROM mantis_stores}));

# --- a crash restart before any compaction ------------------------------------
my $log_at = -s $n1->logfile;
kill_and_start($n1);
wait_loaded($n1);
my $log = slurp_file($n1->logfile, $log_at);
my ($folded) = $log =~ /(\d+) records or dead registers taken as collapsed/;
ok(defined $folded && $folded > 0,
	'the load took the dead registers collapsed since their rows as collapsed (' .
	($folded // 'none') . ')');
unlike($log, qr/[1-9]\d* records or bounds held back/,
	'no record held back');
is(sql(q{SELECT held_back FROM mantis_status}), '0', 'nothing held back: no hole');
is(sql(q{SELECT count(*) FROM generate_series(1, 20000) i WHERE mantis_get('live' || i) = 'v' || i}),
	'20000', 'every live key came back, those of leaves with a bound too');
is(sql(q{SELECT count(*) FROM generate_series(1, 300) i WHERE mantis_get('k' || i) IS NOT NULL}), '0',
	'no deleted key came back');
# the records held when the crash came were never written (only a compaction
# writes records): their dead registers load in full, to be compacted again
ok($n1->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status}),
	'the dead registers loaded in full become records again, within the budget');

# --- a restored row of the old values gives back none -------------------------
$log_at = -s $n1->logfile;
sql(qq{INSERT INTO mantis_stores (clock, node, registers)
       VALUES ('$row_clock', 'restored', decode('$row_hex', 'hex'))});
sql(q{SELECT mantis_flush()});
$n1->wait_for_log(qr/mantis loaded \d+ registers from 1 rows/, $log_at);
is(sql(q{SELECT count(*) FROM generate_series(1, 300) i WHERE mantis_get('k' || i) IS NOT NULL}), '0',
	'no old value of a restored row comes back: refused by its record or its leaf\'s bound');

# --- collection proceeds ------------------------------------------------------
ok($n1->poll_query_until('postgres',
	qq{SELECT refusal_horizon IS NOT NULL AND refusal_horizon >= '$deleted_at'::timestamptz
	     FROM mantis_status}), 'the lifetime collects the records and bounds: the refusal horizon reaches the deletions');
is(sql(q{SELECT count(*) FROM generate_series(1, 20000) i WHERE mantis_get('live' || i) = 'v' || i}),
	'20000', 'and the live keys stay');

$n1->stop;
done_testing();
