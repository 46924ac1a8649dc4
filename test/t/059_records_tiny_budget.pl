# Records (R7) under a tiny budget: mantis.max_dead_records = 128, one
# record a partition, so nearly every deletion collapses into its leaf's
# bound.  n3 holds k1..k600 and stops; n1 deletes them in batches and sets
# and deletes 2,000 more keys (sustained deletions), while its memory
# (mantis_status.memory_used) stays flat.  n3 comes back holding its old
# values.  Nothing deleted may come back on n1 or n2; n3 gives its old
# values up (by tombstone, or by adoption once the bounds are collected);
# the three converge and every bound and record is collected.
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
mantis.max_keys = 1000
mantis.max_dead_records = 128
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

sub status
{
	my ($n) = @_;
	return sql($n, q{SELECT format('keys %s deleted %s held_back %s memory %s refusal %s collection %s',
	  keys, deleted_keys, held_back, memory_used, refusal_horizon, collection) FROM mantis_status});
}

wait_peers_connected(2, $n1, $n2, $n3);
sql($n1, q{SELECT count(mantis_set('k' || i, 'old ' || i)) FROM generate_series(1, 600) i});
ok(wait_converged($n1, $n2, $n3), 'the three hold k1..k600');
$n3->stop;
$n1->poll_query_until('postgres', q{SELECT state <> 'connected' FROM mantis_peers WHERE node_name = 'n3'})
  or die 'n1 never saw n3 go';

my @mem;
my $failed = 0;
for my $batch (0 .. 5)
{
	my $from = 100 * $batch + 1;
	my $to = $from + 99;
	sql($n1, qq{SELECT count(mantis_delete('k' || i)) FROM generate_series($from, $to) i});
}
for my $batch (0 .. 19)
{
	my $from = 100 * $batch + 1;
	my $to = $from + 99;
	my ($rc) = $n1->psql('postgres', qq{SELECT count(mantis_set('s' || i, 'v')) FROM generate_series($from, $to) i});
	$failed++ if $rc != 0;
	sql($n1, qq{SELECT count(mantis_delete('s' || i)) FROM generate_series($from, $to) i});
	$n1->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
	  or diag('n1 holds deletions in full: ' . status($n1));
	push @mem, sql($n1, q{SELECT memory_used FROM mantis_status});
}
is($failed, 0, 'every batch found room');
note('n1 memory_used over the batches: ' . join(' ', @mem));
ok($mem[-1] <= $mem[4], "n1's memory stays flat ($mem[4] after 5 batches, $mem[-1] after 20)");
note('n1: ' . status($n1));
note('n2: ' . status($n2));
is(served($n1, 'k', 600) . ' ' . served($n2, 'k', 600), '0 0', 'n1 and n2 serve no deleted key');

# --- n3 comes back with its old values -----------------------------------------
$n3->start;
wait_loaded($n3);
wait_peers_connected(2, $n1, $n2, $n3);
my %worst = (n1 => 0, n2 => 0);
my $t0 = Time::HiRes::time();
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
my $n3_served;
while (time() < $deadline)
{
	for my $n ($n1, $n2)
	{
		my $s = served($n, 'k', 600) + served($n, 's', 2000);
		$worst{ $n->name } = $s if $s > $worst{ $n->name };
	}
	$n3_served = served($n3, 'k', 600);
	last if $n3_served == 0;
	usleep(100_000);
}
note(sprintf('n3 served deleted keys for %.2f s after it was loaded', Time::HiRes::time() - $t0));
note('n3: ' . status($n3));
is($n3_served, '0', 'n3 gives up its old values');
is("$worst{n1} $worst{n2}", '0 0', 'n1 and n2 never served a deleted key meanwhile');
ok(wait_converged($n1, $n2, $n3), 'the three converge');
for my $n ($n1, $n2, $n3)
{
	is(served($n, 'k', 600) . ' ' . served($n, 's', 2000), '0 0', $n->name . ': nothing deleted comes back');
	unlike(slurp_file($n->logfile), qr/PANIC|terminated by signal/, $n->name . ' logged no crash');
}
$_->stop for ($n1, $n2, $n3);
done_testing();
