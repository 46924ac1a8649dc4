# The sweep collects every dead register, with every server up.  It runs
# only when something is due, and visits only the leaves and groups of
# leaves whose summaries (leaf_due, leaf_dead, group_due, group_dead:
# src/store/sweep.c) say so: a summary left too high, or a wrong is_due(),
# leaves a register never collected, and its room never comes back.
#
# Two servers with mantis.max_keys = 20000 take 120,000 one-second keys in
# 15 batches of 8,000 (4,000 written on each, so each server holds 8,000
# more per batch), the case of issue 20; batch k waits for the event it
# needs, not for a second: until both servers hold every key written
# before it (held + collected = written) and have room for it (live +
# expired + deleted registers, as mantis_status shows them, at most
# 20000 - 8000).  That room comes back only if the sweep collects the
# expired registers of the batches before; a sweep that misses them makes
# the wait time out (the deadline of poll_query_until).  Then: no write
# failed, both stores end empty, and collected_expired counts every key on
# each.  Last, deletion markers: 8,000 keys without a TTL deleted on the
# server that wrote them; their markers are collected by acknowledgement
# and deleted_keys comes back to 0 on both.
#
# How fast room comes back is a benchmark's question, not this test's:
# BURST=1 bash test/bench/collection.sh runs the same case at one batch a
# second (test/bench/README.md).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use MantisTest;

my $batches = 15;
my $per_node = 4000;
my $max_keys = 20000;
my $c = mantis_cluster(2, qq{
mantis.max_keys = $max_keys
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];
my @all = ($n1, $n2);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

# Every register a server holds (live, expired as of its last sweep, and
# deletion markers), and those plus the ones it collected
my $held = q{keys + expired_keys + deleted_keys};
my $seen = qq{$held + collected_expired + collected_deletions};

wait_peers_connected(1, @all);
# collection by acknowledgement has begun on both (R2 of common/rules.h)
for my $n (@all)
{
	$n->poll_query_until('postgres',
		q{SELECT collection_horizon IS NOT NULL FROM mantis_status})
	  or die $n->name . ' never had a collection horizon';
}

# Wait until a server has seen every one of the $written registers (each
# key is written once: held or collected, none on its way) and has room
# for $room more.  mantis_status reads its counters one by one, and a
# sweep counts what it collected after taking it out of the store, so the
# sum is never above the truth: equal means all there.
sub wait_room
{
	my ($n, $written, $room) = @_;
	return $n->poll_query_until('postgres', qq{
		SELECT $seen = $written AND $held <= $max_keys - $room FROM mantis_status});
}

my (@errors, @waited);
my $written = 0;
for my $k (0 .. $batches - 1)
{
	my $t0 = time();
	for my $n (@all)
	{
		next if wait_room($n, $written, 2 * $per_node);
		push @errors, sprintf('batch %d: %s never had room (held %s)', $k, $n->name,
			sql($n, qq{SELECT keys || '+' || expired_keys || '+' || deleted_keys FROM mantis_status}));
	}
	last if @errors;
	push @waited, sprintf('%.1f', time() - $t0);
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
	$written += 2 * $per_node;
}
is(scalar(@errors), 0, "$batches batches of " . 2 * $per_node . ' one-second keys, each once there was room: none failed')
  or diag(join("\n", @errors[ 0 .. ($#errors < 3 ? $#errors : 3) ]));
note("seconds each batch waited for room: @waited");

# Everything expires and goes: the stores end empty, every key collected
# by the sweep of each server
for my $n (@all)
{
	ok($n->poll_query_until('postgres', qq{SELECT $held = 0 FROM mantis_status}),
		$n->name . ' ends empty');
	is(sql($n, 'SELECT collected_expired FROM mantis_status'), $written,
		$n->name . ' collected every expired register');
}

# Deletion markers: 8,000 keys without a TTL, 4,000 written and then
# deleted on each server once both hold all of them
my $markers = 2 * $per_node;
for my $i (0 .. $#all)
{
	my $lo = $i * $per_node;
	sql($all[$i], qq{SELECT count(mantis_set('d' || i, 'v')) FROM generate_series($lo, $lo + $per_node - 1) i});
}
ok(wait_room($_, $written + $markers, 0), $_->name . ' holds every key to delete') for @all;
for my $i (0 .. $#all)
{
	my $lo = $i * $per_node;
	is(sql($all[$i], qq{SELECT count(*) FILTER (WHERE mantis_delete('d' || i))
	                      FROM generate_series($lo, $lo + $per_node - 1) i}),
		$per_node, $all[$i]->name . " deleted its $per_node keys");
}
for my $n (@all)
{
	ok($n->poll_query_until('postgres',
			qq{SELECT $held = 0 AND collected_deletions = $markers FROM mantis_status}),
		$n->name . ' collected every deletion marker (deleted_keys back to 0)');
	is(sql($n, qq{SELECT count(*) FROM mantis_registers(true)}), 0,
		$n->name . ' holds no register at all');
}

$_->stop for @all;
done_testing();
