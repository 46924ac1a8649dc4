# Records (R7) held back at load: n1 restarted with a lower
# mantis.max_dead_records than its rows hold records of.
#
# Three servers with room for 1,024 records.  n3 holds a1..a300 and stops;
# n1 deletes them, and the deletions become records (on n1 and n2), which
# a compaction writes to the rows.  The operator restarts n1 with
# mantis.max_dead_records = 128: its load holds back what does not fit
# (DEAD.md, "What remains" 2: a hole, the rows kept whole).  n3 comes back
# holding its old values.  No server may serve a deleted key, n1 included.
#
# n1 loads 121 records (one a partition) and holds back 179.  Before
# held-back records refused anything (store/dead.c dead_held_refuses(),
# mantis_store_tombstone()), 3 checks failed: nothing refused n3's old
# values of those 179 keys, so n1 took and served them; and n1
# acknowledged nothing from then on: every repair answer of n2 and n3
# carried tombstones of those deletions, which found no room (the table is
# full and no record may collapse, all lying above the load hole, R5), so
# each round was tainted ("took 0 hash tombstones ... (1 refused for
# room)"), and n2 and n3 reported "lifetime only: waiting for a peer's
# acknowledgement (n1)": collection by acknowledgement stopped in the whole
# cluster until their lifetime (an hour here) collected their records.
# n1 served the 179 deleted keys past that too: with a lifetime of 15 s,
# 105 s after it n1 still held back 179 records and said "179 registers
# adopted away wait for a compaction" (no compaction runs while rows are
# held back, R6, and no retry found room).  Now the held-back records
# refuse the old values, and a tombstone whose record (or a newer one) our
# rows hold back counts as held, not as refused for room.  Left (a TODO):
# n1 still holds the 179 back at the end, compactions and all.
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
mantis.max_dead_records = 1024
mantis.compact_rows = 1
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub served
{
	my ($n, $prefix, $count) = @_;
	return sql($n, qq{SELECT count(*) FROM generate_series(1, $count) i
	                   WHERE mantis_get('$prefix' || i) IS NOT NULL});
}

sub compact_and_wait
{
	my ($n) = @_;
	my $before = sql($n, q{SELECT max(id) FROM mantis_stores});
	sql($n, q{SELECT mantis_set('tick', clock_timestamp()::text)});
	sql($n, q{SELECT mantis_flush()});
	$n->poll_query_until('postgres', qq{SELECT min(id) > $before FROM mantis_stores})
	  or die $n->name . ': no compaction';
}

sub status
{
	my ($n) = @_;
	return sql($n, q{SELECT format('keys %s deleted %s held_back %s refusal %s collection %s',
	  keys, deleted_keys, held_back, refusal_horizon, collection) FROM mantis_status});
}

wait_peers_connected(2, $n1, $n2, $n3);
sql($n1, q{SELECT count(mantis_set('a' || i, 'old ' || i)) FROM generate_series(1, 300) i});
ok(wait_converged($n1, $n2, $n3), 'the three hold a1..a300');
$n3->stop;
$n1->poll_query_until('postgres', q{SELECT state <> 'connected' FROM mantis_peers WHERE node_name = 'n3'})
  or die 'n1 never saw n3 go';
sql($n1, q{SELECT count(mantis_delete('a' || i)) FROM generate_series(1, 300) i});
for my $n ($n1, $n2)
{
	$n->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
	  or diag($n->name . ': ' . status($n));
	compact_and_wait($n);
}

# --- the operator lowers n1's budget and restarts it -------------------------
$n1->append_conf('postgresql.conf', "mantis.max_dead_records = 128\n");
my $log_at = -s $n1->logfile;
$n1->restart;
wait_loaded($n1);
note('n1 after the restart: ' . status($n1));
like(slurp_file($n1->logfile, $log_at), qr/records or bounds held back/, 'n1 warns that records are held back');
is(served($n1, 'a', 300), '0', 'n1 serves no deleted key after its restart');

# --- n3 comes back with its old values -----------------------------------------
$n3->start;
wait_loaded($n3);
wait_peers_connected(2, $n1, $n2, $n3);
my $worst = 0;
my $deadline = time() + 15;
while (time() < $deadline)
{
	my $s = served($n1, 'a', 300);
	$worst = $s if $s > $worst;
	usleep(100_000);
}
note('n1: ' . status($n1));
note('n2: ' . status($n2));
note('n3: ' . status($n3));
is($worst, 0, "n1 never served a deleted key (most at once: $worst)");
for my $n ($n1, $n2, $n3)
{
	is(served($n, 'a', 300), '0', $n->name . ': nothing deleted comes back');
}
ok(wait_converged($n1, $n2, $n3), 'the three converge');
# the horizon collects the records everywhere (n1 acknowledges again), and
# a retry of n1's rows (with a compaction) finds room for what they held back
{
	# 20 s: it stays so (the TODO below), and the full timeout is long
	my $deadline = time() + 20;
	while (sql($n1, q{SELECT held_back FROM mantis_status}) != 0 && time() < $deadline)
	{
		# a write and a flush ask for a compaction (mantis.compact_rows = 1),
		# which retries the held rows (the rows holding records back stay)
		sql($n1, q{SELECT mantis_set('tick', clock_timestamp()::text), mantis_flush()});
		usleep(200_000);
	}
}
TODO:
{
	local $TODO = 'records held back at load stay so: the load hole stops collection of the loaded ones above it (DEAD.md, What remains 2)';
	is(sql($n1, q{SELECT held_back FROM mantis_status}), '0', 'n1 holds nothing back in the end');
}
note('n1 at the end: ' . status($n1));
$_->stop for ($n1, $n2, $n3);
done_testing();
