# Records (R7) against restored rows: an older copy of the whole of
# mantis_stores put back while records (and, under a budget of 128, bounds)
# stand for the deletions since.
#
# n3 away; n1 copies its rows (all of r1..r300 live), deletes r1..r300
# (records, most collapsed into bounds), and compacts.  Then the operator
# restores the copy: first added to the rows (INSERT ... SELECT), then in
# place of them (DELETE and INSERT in one transaction, as a restore of a
# pg_dump of the table would), then the same followed by a crash restart
# before any compaction.  n1 must not serve a deleted key while its memory
# holds the records; after the crash restart it holds only the old rows,
# a server restored from a backup, and its peer n2's tombstones and
# refusal horizon must take the old values away again: the tombstones do
# so for the records, but not for the deletions collapsed into bounds,
# which n1 serves until the bounds are collected (a TODO: about 180 of 300
# in a run, for as long as n3 stays away).  n3 then comes back and the
# three converge, nothing deleted served.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use MantisTest;

my $c = mantis_cluster(3, q{
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
mantis.tombstone_lifetime = '1h'
mantis.max_dead_records = 128
mantis.compact_rows = 1
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub served
{
	my ($n) = @_;
	return sql($n, q{SELECT count(*) FROM generate_series(1, 300) i WHERE mantis_get('r' || i) IS NOT NULL});
}

sub compact_and_wait
{
	my ($n) = @_;
	my $before = sql($n, q{SELECT coalesce(max(id), 0) FROM mantis_stores});
	sql($n, q{SELECT mantis_set('tick', clock_timestamp()::text)});
	sql($n, q{SELECT mantis_flush()});
	$n->poll_query_until('postgres', qq{SELECT coalesce(min(id) > $before, false) FROM mantis_stores})
	  or die $n->name . ': no compaction';
}

sub status
{
	my ($n) = @_;
	return sql($n, q{SELECT format('keys %s deleted %s held_back %s refusal %s collection %s',
	  keys, deleted_keys, held_back, refusal_horizon, collection) FROM mantis_status});
}

wait_peers_connected(2, $n1, $n2, $n3);
sql($n1, q{SELECT count(mantis_set('r' || i, 'old ' || i)) FROM generate_series(1, 300) i});
ok(wait_converged($n1, $n2, $n3), 'the three hold r1..r300');
compact_and_wait($n1);
sql($n1, q{CREATE TABLE bak AS SELECT clock, node, registers FROM mantis_stores});
$n3->stop;
$n1->poll_query_until('postgres', q{SELECT state <> 'connected' FROM mantis_peers WHERE node_name = 'n3'})
  or die 'n1 never saw n3 go';
sql($n1, q{SELECT count(mantis_delete('r' || i)) FROM generate_series(1, 300) i});
$n1->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
  or diag('n1: ' . status($n1));
compact_and_wait($n1);
is(served($n1), '0', 'n1 serves none of the deleted keys');

# --- the old copy added to the rows --------------------------------------------
sql($n1, q{INSERT INTO mantis_stores (clock, node, registers) SELECT * FROM bak});
compact_and_wait($n1);
is(served($n1), '0', 'the old copy added to the rows brings nothing back');

# --- the old copy in place of the rows ------------------------------------------
sql($n1, q{BEGIN; DELETE FROM mantis_stores; INSERT INTO mantis_stores (clock, node, registers) SELECT * FROM bak; COMMIT});
compact_and_wait($n1);
is(served($n1), '0', 'the old copy in place of the rows brings nothing back');
note('n1: ' . status($n1));

# --- the same, and a crash restart before any compaction --------------------------
sql($n1, q{ALTER SYSTEM SET mantis.flush_interval = 0; SELECT pg_reload_conf()});
sql($n1, q{BEGIN; DELETE FROM mantis_stores; INSERT INTO mantis_stores (clock, node, registers) SELECT * FROM bak; COMMIT});
$n1->stop('immediate');
$n1->start;
wait_loaded($n1);
note('n1 restarted on the old copy: ' . status($n1) . '; serves ' . served($n1));
sql($n1, q{ALTER SYSTEM RESET mantis.flush_interval; SELECT pg_reload_conf()});
# n2's tombstones replace the old values of the deletions it holds as
# records; those collapsed into bounds (n2's budget is 128 too) have no
# tombstone: a bound serves only the answer's proof (DEAD.md, "What
# remains" 1), so n1 serves their old values until the bounds are
# collected, by the horizon once n3 is back, or by the lifetime (an hour)
my $t0 = Time::HiRes::time();
my $deadline = time() + 10;
usleep(100_000) while served($n1) > 0 && time() < $deadline;
note(sprintf('n1 served %d deleted keys %.2f s after its restart on the old copy (n3 away)',
	served($n1), Time::HiRes::time() - $t0));
TODO:
{
	local $TODO = 'collapsed deletions reach a server that missed them only once their bounds are collected';
	is(served($n1), '0', 'n1, restarted on the old copy, gives the deleted keys up again while n3 is away');
}
is(served($n2), '0', 'n2 never takes them back');

# --- n3 comes back ----------------------------------------------------------------
$n3->start;
wait_loaded($n3);
$n3->poll_query_until('postgres', q{SELECT count(*) = 0 FROM generate_series(1, 300) i WHERE mantis_get('r' || i) IS NOT NULL})
  or diag('n3 still serves ' . served($n3));
ok(wait_converged($n1, $n2, $n3), 'the three converge');
is(served($_), '0', $_->name . ': nothing deleted comes back') for ($n1, $n2, $n3);
$_->stop for ($n1, $n2, $n3);
done_testing();
