# Collection with every server up: an expired register's room comes back
# within about a second of its expiry.  Two servers with mantis.max_keys =
# 20000 take 120,000 one-second keys in 15 batches of 8,000 (4,000 on each),
# one batch a second: the store holds the batch just written, the one
# expiring now and whatever is still dead of the one before (16,000 +), so
# every batch finds room only if the registers that expired a second ago
# are gone on both servers.  The test asserts the outcome (no "store is
# full" across the batches) and notes the latency it saw: how many expired
# registers each server held when each batch began, and how long after the
# last expiry both stores were empty.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $batches = 15;
my $per_node = 4000;
my $c = mantis_cluster(2, qq{
mantis.max_keys = 20000
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];
my @all = ($n1, $n2);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

wait_peers_connected(1, @all);
# collection by acknowledgement has begun on both (R2 of common/rules.h)
for my $n (@all)
{
	$n->poll_query_until('postgres',
		q{SELECT collection_horizon IS NOT NULL FROM mantis_status})
	  or die $n->name . ' never had a collection horizon';
}

# Batch k goes out at start + k seconds: the rate is the workload, not a
# wait for an event.  Every write's error is kept.
my (@errors, @held);
my $start = time() + 0.2;
my $last_expiry = 0;
for my $k (0 .. $batches - 1)
{
	my $at = $start + $k;
	my $left = $at - time();
	usleep(int($left * 1e6)) if $left > 0;
	push @held, join(' ', map {
		my $n = $_;
		$n->name . ' ' . sql($n, q{SELECT keys || '+' || expired_keys FROM mantis_status})
	} @all);
	for my $i (0 .. $#all)
	{
		my $n = $all[$i];
		my $lo = ($k * 2 + $i) * $per_node;
		my $hi = $lo + $per_node - 1;
		my ($ret, $out, $err) = $n->psql('postgres',
			qq{SELECT count(mantis_set('s' || i, 'v', interval '1 second'))
			     FROM generate_series($lo, $hi) i});
		push @errors, "batch $k on " . $n->name . ": $err" if $ret != 0;
	}
	$last_expiry = time() + 1;
}
is(scalar(@errors), 0, "$batches batches of " . 2 * $per_node . ' one-second keys at one a second: no write failed')
  or diag(join("\n", @errors[ 0 .. ($#errors < 3 ? $#errors : 3) ]));
unlike(join("\n", @errors), qr/store is full/, 'in particular, no "store is full"');
note("live+expired registers held as each batch began: @held[1 .. $#held]");

# Everything expires and goes: the stores end empty
for my $n (@all)
{
	$n->poll_query_until('postgres',
		q{SELECT keys = 0 AND expired_keys = 0 FROM mantis_status})
	  or die $n->name . ' kept expired registers';
}
note(sprintf('both stores empty %.2f s after the last batch expired', time() - $last_expiry));
cmp_ok(sql($_, 'SELECT collected_expired FROM mantis_status'), '>=', $batches * 2 * $per_node,
	$_->name . ' collected every expired register')
  for @all;

$_->stop for @all;
done_testing();
