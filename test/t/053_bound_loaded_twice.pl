# A leaf's collapsed bound loaded from mantis_stores a second time changes
# nothing (R7 of src/common/rules.h, store/dead.c's
# mantis_store_dead_load_bound()): a bound is no set of registers to merge
# by XOR, and the same bound twice is not none.  Two rows hold one leaf's
# bound when a row of records was held back beside a later compaction's,
# when a standby follows its primary's compactions, or when a row is
# restored by hand; each load of the second toggled the bound's
# fingerprint out of the leaf's digest again, and the leaf then differed
# from every peer's in every round until the lifetime collected the bound.
#
# n1 and n2 hold the same 300 deletions (n3, a member, is away: nothing is
# collected), each compacted into records under a budget of 128 and
# collapsed into leaves' bounds; their digests are equal, and repair rounds
# move nothing.  A copy of n1's row of bounds is inserted, as a restore
# would, and merged; then n1 is restarted after a crash, loading both rows.
# Rounds of n1 and n2 must still move nothing.  (Before, every round sent
# the bounded leaves' records as tombstones, refused as stale.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $c = mantis_cluster(3, q{
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
mantis.tombstone_lifetime = '1h'
mantis.compact_rows = 1
mantis.max_dead_records = 128
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

# rows of records holding bounds: those whose bound count is not 0
my $bounded_rows = q{
  WITH r AS (SELECT id, registers b FROM mantis_stores WHERE get_byte(registers, 5) & 1 = 1),
       c AS (SELECT id, b, (get_byte(b, 20)::int8 << 24) + (get_byte(b, 21) << 16) +
                           (get_byte(b, 22) << 8) + get_byte(b, 23) AS nrec FROM r)
  SELECT id FROM c WHERE (get_byte(b, (24 + 40 * nrec)::int)::int8 << 24) +
                         (get_byte(b, (25 + 40 * nrec)::int) << 16) +
                         (get_byte(b, (26 + 40 * nrec)::int) << 8) +
                         get_byte(b, (27 + 40 * nrec)::int) > 0};

sub compact_and_wait
{
	my ($n) = @_;
	my $before = sql($n, q{SELECT max(id) FROM mantis_stores});
	sql($n, q{SELECT mantis_set('tick', clock_timestamp()::text)});
	sql($n, q{SELECT mantis_flush()});
	$n->poll_query_until('postgres', qq{SELECT min(id) > $before FROM mantis_stores})
	  or die $n->name . ': no compaction';
}

# what the rounds between n1 and n2 carried, and how many they made
sub moved
{
	return join ',', map {
		sql($_, q{SELECT sum(registers_applied + rejected_stale + rejected_no_room + repair_held)
		            FROM mantis_peers WHERE node_name IN ('n1', 'n2')})
	} ($n1, $n2);
}

sub rounds
{
	return join ',', map {
		sql($_, q{SELECT min(repair_rounds) FROM mantis_peers
		           WHERE node_name IN ('n1', 'n2') AND direction <> 'inbound'})
	} ($n1, $n2);
}

# whether three more rounds of n1 and n2 each move nothing, tried a few times
# (a round under way when we start may still carry something)
sub still
{
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	for my $try (1 .. 5)
	{
		my $before = moved();
		my @r = split /,/, rounds();
		while (time() < $deadline)
		{
			my @now = split /,/, rounds();
			last unless grep { $now[$_] < $r[$_] + 3 } 0 .. $#r;
			usleep(100_000);
		}
		my $after = moved();
		return 1 if $after eq $before;
		note("rounds moved: $before -> $after");
	}
	return 0;
}

wait_peers_connected(2, $n1, $n2, $n3);
$n3->stop;
$n1->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM mantis_peers WHERE node_name = 'n3' AND state = 'connected'})
  or die 'n1 never saw n3 go';

sql($n1, q{SELECT count(mantis_set('k' || i, 'v' || i)) FROM generate_series(1, 300) i});
ok(wait_converged($n1, $n2), 'n1 and n2 hold the 300 keys');
sql($n1, q{SELECT count(mantis_delete('k' || i)) FROM generate_series(1, 300) i});
for my $n ($n1, $n2)
{
	$n->poll_query_until('postgres', q{SELECT keys = 0 AND deleted_keys = 0 FROM mantis_status})
	  or diag($n->name . ': ' . sql($n, q{SELECT keys || ' ' || deleted_keys FROM mantis_status}));
}
compact_and_wait($n1);
my $row = sql($n1, "$bounded_rows ORDER BY id DESC LIMIT 1");
ok($row ne '', "n1's compaction wrote a row of bounds (row $row)");
ok(still(), 'rounds of n1 and n2 move nothing: their digests are equal');

# the same bounds again, as a restore would bring them
my $log_at = -s $n1->logfile;
sql($n1, qq{INSERT INTO mantis_stores (clock, node, registers)
            SELECT clock, 'restored', registers FROM mantis_stores WHERE id = $row});
$n1->wait_for_log(qr/mantis loaded \d+ records of dead registers/, $log_at);
ok(still(), 'the bounds loaded again: rounds still move nothing');

# both rows at a crash restart
kill_and_start($n1);
wait_loaded($n1);
is(sql($n1, "SELECT count(*) FROM ($bounded_rows) b"), '2', 'n1 restarts with two rows of the same bounds');
wait_peers_connected(1, $n1);
ok(still(), 'after a crash restart loading both: rounds still move nothing');

$n1->stop;
$n2->stop;
done_testing();
