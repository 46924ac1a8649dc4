# Issue 20's outage in miniature, with records and hash tombstones (R7 of
# common/rules.h, protocol 5).
#
# Three servers with mantis.max_keys = 300 and room for 4,096 records (32 a
# partition: with 8, one partition of 420 records overflowed in a run and
# collapsed one into its leaf's bound).  n2 and n3 hold a1..a60, then stop.
# While they are away n1 deletes a1..a60, sets 60 keys that expire within a
# second, and sets and deletes 300 new keys in three batches of 100: dead
# registers that wait for their acknowledgement.  Without records they
# count against max_keys, and the second batch cannot fit (60 + 60 + 100
# dead and 100 new: "store is full"); with records each is compacted once
# dead 4 sync intervals, and every batch finds room.  n3 restarts holding
# its old values of a1..a60, n2 still away: n1's repair answers carry its
# records as hash tombstones, and n3 takes them in place of its old values
# (and keeps those of keys it never held as records: 420 taken), so it
# serves no deleted key within a round, though n1's records cannot be
# collected while n2 is away.  Then n2 comes back and does the same.
# Nothing deleted is served anywhere; the three converge: the same
# registers, every record then collected by the horizon (each server
# acknowledges the deletions it holds as records; the lifetime is an
# hour), repair rounds that move nothing more, and no register adopted
# away.  Without the tombstones (mantis_tombs_send() sending none) n3
# serves the 60 deleted keys as long as n2 is away: the wait for them
# times out.  How long n3 served them after its start is printed.
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
mantis.max_keys = 300
mantis.max_dead_records = 4096
mantis.compact_rows = 1
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

# rows of records in a server's mantis_stores: the records they hold
sub stored_records
{
	my ($n) = @_;
	return sql($n, q{
	  SELECT coalesce(sum((get_byte(registers, 20)::int8 << 24) + (get_byte(registers, 21) << 16) +
	                      (get_byte(registers, 22) << 8) + get_byte(registers, 23)), 0)
	    FROM mantis_stores WHERE get_byte(registers, 5) & 1 = 1});
}

# the keys of a prefix 1..n a server serves
sub served
{
	my ($n, $prefix, $count) = @_;
	return sql($n, qq{SELECT count(*) FROM generate_series(1, $count) i
	                   WHERE mantis_get('$prefix' || i) IS NOT NULL});
}

# a compaction of a server's rows, asked by a write and a flush
# (mantis.compact_rows = 1), and waited for
sub compact_and_wait
{
	my ($n) = @_;
	my $before = sql($n, q{SELECT max(id) FROM mantis_stores});
	sql($n, q{SELECT mantis_set('tick', clock_timestamp()::text)});
	sql($n, q{SELECT mantis_flush()});
	$n->poll_query_until('postgres', qq{SELECT min(id) > $before FROM mantis_stores})
	  or die $n->name . ': no compaction';
}

wait_peers_connected(2, $n1, $n2, $n3);
for my $n ($n1, $n2, $n3)
{
	$n->poll_query_until('postgres', q{SELECT bool_and(protocol = 5) FROM mantis_peers})
	  or diag($n->name . ': ' . sql($n, q{SELECT string_agg(node_name || ' ' || protocol, ', ') FROM mantis_peers}));
	is(sql($n, q{SELECT string_agg(DISTINCT protocol::text, ',') FROM mantis_peers}), '5',
		$n->name . ' speaks protocol 5 with both peers');
}

# --- n2 and n3 hold a1..a60, then go away -------------------------------------
sql($n1, q{SELECT count(mantis_set('a' || i, 'old ' || i)) FROM generate_series(1, 60) i});
ok(wait_converged($n1, $n2, $n3), 'n2 and n3 hold the 60 old values');
$n2->stop;
$n3->stop;
$n1->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM mantis_peers WHERE state = 'connected'})
  or die 'n1 never saw n2 and n3 go';

# --- while it is away: deletions, three batches set and deleted, expiries -----
sql($n1, q{SELECT count(mantis_delete('a' || i)) FROM generate_series(1, 60) i});
sql($n1, q{SELECT count(mantis_set('c' || i, 'short', interval '300 ms')) FROM generate_series(1, 60) i});
my $failed = 0;
for my $batch (0 .. 2)
{
	my $from = 100 * $batch + 1;
	my $to = 100 * $batch + 100;
	my ($ok) = $n1->psql('postgres',
		qq{SELECT count(mantis_set('b' || i, 'v')) FROM generate_series($from, $to) i});
	$failed++ if $ok != 0;
	sql($n1, qq{SELECT count(mantis_delete('b' || i)) FROM generate_series($from, $to) i}) if $ok == 0;
	# the batch's deletions leave n1's registers for records
	$n1->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
	  or diag('n1 still holds deletions in full: ' . sql($n1, q{SELECT deleted_keys FROM mantis_status}));
}
is($failed, 0, 'every batch found room: dead registers became records, off max_keys');
$n1->poll_query_until('postgres',
	q{SELECT keys = 0 AND deleted_keys = 0 AND expired_keys = 0 FROM mantis_status})
  or diag('n1: ' . sql($n1, q{SELECT format('keys %s deleted %s expired %s',
	  keys, deleted_keys, expired_keys) FROM mantis_status}));
is(sql($n1, q{SELECT keys + deleted_keys + expired_keys FROM mantis_status}), '0',
	'n1 holds no register: 420 records stand for the dead ones');

# records persist with a compaction: n1's rows hold them
compact_and_wait($n1);
is(stored_records($n1), '420', 'a compaction wrote n1\'s 420 records to mantis_stores');

# --- n3 comes back with its old values, n2 still away: the tombstones ---------
# replace them (n1's records wait for n2: without tombstones n3 would serve
# the old values until the lifetime, an hour here, collected the records)
my $log_at = -s $n3->logfile;
$n3->start;
wait_loaded($n3);
{
	my $t0 = Time::HiRes::time();
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	usleep(20_000) while served($n3, 'a', 60) > 0 && time() < $deadline;
	note(sprintf('n3 served deleted keys for %.2f s after it was loaded',
		Time::HiRes::time() - $t0));
}
is(served($n3, 'a', 60), '0', 'n3 serves none of the 60 deleted keys: tombstones replaced them');
like(slurp_file($n3->logfile, $log_at), qr/mantis: took \d+ hash tombstones of dead registers from n[12]/,
	'n3 says it took hash tombstones');
$n3->poll_query_until('postgres', q{SELECT sum(registers_applied) >= 420 FROM mantis_peers})
  or diag('n3 applied ' . sql($n3, q{SELECT sum(registers_applied) FROM mantis_peers}));
ok(sql($n3, q{SELECT sum(registers_applied) FROM mantis_peers}) >= 420,
	'n3 took the 420 tombstones (registers_applied counts them)');

# --- then n2, from n1 and n3 -----------------------------------------------
$n2->start;
wait_loaded($n2);
$n2->poll_query_until('postgres', q{SELECT count(*) = 0 FROM generate_series(1, 60) i
                                     WHERE mantis_get('a' || i) IS NOT NULL})
  or diag('n2 still serves ' . served($n2, 'a', 60) . ' deleted keys');
for my $n ($n1, $n2, $n3)
{
	is(served($n, 'a', 60) . ' ' . served($n, 'b', 300) . ' ' . served($n, 'c', 60), '0 0 0',
		$n->name . ': nothing deleted or expired comes back');
}

# --- converged: same registers, nothing adopted, rounds that move nothing -----
ok(wait_converged($n1, $n2, $n3), 'the three hold the same registers');

# n3 caught up acknowledges every deletion, as a record: the horizon
# collects the records everywhere (the lifetime is an hour), and a
# compaction then writes none
for my $n ($n1, $n2, $n3)
{
	my $left;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	do
	{
		compact_and_wait($n);
		$left = stored_records($n);
	} while ($left != 0 && time() < $deadline);
	is($left, '0', $n->name . ': every record collected by acknowledgement, none in the rows');
}

# each round moves nothing: the counters of what rounds carry stand still
# over three more completed rounds of every server with every peer
sub moved
{
	return join ',', map {
		sql($_, q{SELECT sum(registers_applied + rejected_stale + rejected_no_room + repair_held)
		            || '/' || sum(adopted) FROM mantis_peers})
	} ($n1, $n2, $n3);
}

sub rounds
{
	return join ',', map { sql($_, q{SELECT min(repair_rounds) FROM mantis_peers WHERE direction <> 'inbound'}) }
	  ($n1, $n2, $n3);
}
my $still = 0;
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
while (!$still && time() < $deadline)
{
	my $before = moved();
	my @r = split /,/, rounds();
	my $done = 0;
	while (!$done && time() < $deadline)
	{
		my @now = split /,/, rounds();
		$done = !grep { $now[$_] < $r[$_] + 3 } 0 .. $#r;
		usleep(100_000) unless $done;
	}
	$still = moved() eq $before;
}
ok($still, 'three rounds of each server with each peer moved nothing: the digests are equal');
like(moved(), qr/^[^,]*\/0,[^,]*\/0,[^,]*\/0$/, 'no register was adopted away anywhere');

$_->stop for ($n1, $n2, $n3);
done_testing();
