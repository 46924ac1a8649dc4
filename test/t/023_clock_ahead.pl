# A server whose clock ran ahead by more than mantis.tombstone_lifetime, and
# was then put right, never makes the cluster lose writes (issue 18, the
# operator's review).  n1's clock is moved 15 s ahead (mantis.debug_clock_offset)
# with a lifetime of 3 s; n1 deletes a key, which its peers refuse as skewed
# and so never acknowledge: only the lifetime collects it on n1.  Measured
# on n1's clock alone, the lifetime would collect it after 3 s and raise n1's
# refusal horizon 12 s into real time's future: n2's writes made after n1 is
# put right would be refused by n1 as copies of collected registers, and
# adopted away by n2 and n3 once they believe n1's horizon.  The lifetime is
# measured on the least clock among ours and our members' (the rule R3 of
# src/common/rules.h): n1 collects the marker only once every clock is a
# lifetime past it, and says that its clock is ahead.  At the end n2's keys
# are held by every server, and no deleted key is back.  (Before that rule,
# n2's keys were lost on every server.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $t_start = time();
my $ahead_ms = 15000;
my $c = mantis_cluster(3, qq{
mantis.sync_interval = '1s'
mantis.peer_timeout = '2s'
mantis.flush_interval = '200ms'
mantis.tombstone_lifetime = '3s'
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];
my @all = ($n1, $n2, $n3);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub value { my ($n, $key) = @_; return sql($n, qq{SELECT coalesce(mantis_get('$key'), '<deleted>')}) }

sub held
{
	my ($n, $key) = @_;
	return sql($n, qq{SELECT EXISTS (SELECT FROM mantis_registers('$key', true) WHERE key = '$key')}) eq 't';
}

sub status { my ($n, $col) = @_; return sql($n, "SELECT $col FROM mantis_status") }

# wait until cond() holds, or the deadline passes; returns whether it held
sub wait_until
{
	my ($cond, $deadline) = @_;
	while (time() < $deadline)
	{
		return 1 if $cond->();
		usleep(200_000);
	}
	return $cond->();
}

for my $n (@all)
{
	$n->poll_query_until('postgres', q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected'})
	  or die $n->name . ' did not connect to its peers';
}

# --- before the jump: gone (n1's), gone2 deleted and collected on n2 --------
sql($n1, q{SELECT mantis_set('gone', 'old')});
sql($n2, q{SELECT mantis_set('gone2', 'old2')});
ok($_->poll_query_until('postgres', q{SELECT mantis_get('gone') = 'old' AND mantis_get('gone2') = 'old2'}),
	$_->name . ' reads gone and gone2') for @all;
sql($n2, q{SELECT mantis_delete('gone2')});
ok(wait_until(sub { !grep { held($_, 'gone2') } @all }, time() + 60),
	'every server collects the marker of gone2');

# --- n1's clock jumps ahead by more than the lifetime -------------------------
sql($n1, qq{ALTER SYSTEM SET mantis.debug_clock_offset = '${ahead_ms}ms'; SELECT pg_reload_conf()});
for my $n ($n2, $n3)
{
	ok($n->poll_query_until('postgres',
			qq{SELECT clock_offset_ms > $ahead_ms - 2000 FROM mantis_peers WHERE node_name = 'n1' AND direction = 'outbound'}),
		$n->name . ' sees the clock of n1 ahead');
}
# (the marker may have become a record first, R7: collected_records)
my $collected = status($n1, 'collected_deletions + collected_records');
sql($n1, q{SELECT mantis_delete('gone')});
my $deleted_at = time();
ok(held($n1, 'gone'), 'n1 holds its marker of gone, 15 s ahead of real time');

# n1 collects its marker: by its clock alone the lifetime would take it 3 s
# from now; every clock must be a lifetime past it (or every member hold it,
# once it is no longer ahead of their clocks by more than max_clock_offset)
ok(wait_until(sub { !held($n1, 'gone') }, time() + 90), 'n1 collects the marker of gone');
my $took = time() - $deleted_at;
note(sprintf('n1 collected the marker %.1f s after the deletion (%d s ahead, a lifetime of 3 s)',
		$took, $ahead_ms / 1000));
note('n1: ' . sql($n1, q{SELECT format('collected %s, refusal horizon %s, now %s', collected_deletions,
	refusal_horizon, clock_timestamp()) FROM mantis_status}));
# (a marker that became a record leaves the registers before it is collected)
ok(wait_until(sub { status($n1, 'collected_deletions + collected_records') > $collected }, time() + 90),
	'n1 counts the marker collected');
is(sql($n1, q{SELECT refusal_horizon <= clock_timestamp() FROM mantis_status}), 't',
	"n1's refusal horizon is not ahead of real time (the others' clocks)");
ok($n1->log_contains(qr/clock of this server is \d+ ms ahead of n2's/),
	'n1 warns that its clock is ahead of its peers');

# --- n1's clock is put right; n2 writes new keys -------------------------------
sql($n1, q{ALTER SYSTEM SET mantis.debug_clock_offset = 0; SELECT pg_reload_conf()});
$n1->poll_query_until('postgres', q{SELECT current_setting('mantis.debug_clock_offset') = '0'})
  or die 'n1 did not reload its clock offset';
my @keys = map { "new$_" } 1 .. 20;
for my $k (@keys)
{
	sql($n2, qq{SELECT mantis_set('$k', 'v')});
	usleep(100_000);
}
note('n2 wrote its keys by ' . sql($n2, q{SELECT clock_timestamp()}));

# Until every refusal horizon lies in the past, then until each server has
# completed two more repair rounds with each peer (so one began after): a
# peer adopts by a refusal horizon only once it is within
# mantis.max_clock_offset of its clock, so these rounds are when n2's keys
# would go if n1 refused them.
my $horizon = 0;
for my $n (@all)
{
	my $h = sql($n, q{SELECT coalesce(extract(epoch FROM refusal_horizon), 0) FROM mantis_status});
	note($n->name . ": refusal horizon $h, now " . time());
	$horizon = $h if $h > $horizon;
}
my $count = sub {
	my ($n) = @_;
	return sql($n, q{SELECT count(*) FROM mantis_registers('new') WHERE value IS NOT NULL});
};
my $all_hold = sub { !grep { $count->($_) != @keys } @all };
wait_until(sub { time() > $horizon }, $horizon + 30) or die 'the clock did not pass the refusal horizons';
for my $n (@all)
{
	my $rounds = sql($n, q{SELECT string_agg(node_name || ' ' || repair_rounds, ',') FROM mantis_peers
	  WHERE direction = 'outbound'});
	for (split /,/, $rounds)
	{
		my ($peer, $r) = split / /;
		$n->poll_query_until('postgres',
			qq{SELECT repair_rounds >= $r + 2 FROM mantis_peers WHERE node_name = '$peer' AND direction = 'outbound'})
		  or die $n->name . " completed no more repair rounds with $peer";
	}
}
ok(wait_until($all_hold, time() + 30), "every server holds n2's " . scalar(@keys) . ' new keys');
is($count->($_), scalar(@keys), $_->name . " holds n2's new keys") for @all;
note($_->name . ': refused as collected ' . status($_, 'refused_collected')) for @all;

ok(wait_converged(@all), 'the three converge');
for my $n (@all)
{
	is(value($n, 'gone'), '<deleted>', $n->name . ' reads gone deleted');
	is(value($n, 'gone2'), '<deleted>', $n->name . ' reads gone2 deleted');
	unlike(slurp_file($n->logfile), qr/PANIC|terminated by signal/, $n->name . ' logged no crash');
}
$_->stop for @all;
note(sprintf('total %.0f s', time() - $t_start));
done_testing();
