# 079: an expiry that passed before a cursor was taken, but that the sweep
# had not yet found (so no answer up to that cursor said it), must still
# come to a follower whose cursor is answered by a scan (the change log
# moved past it, a restart, another server): else the follower keeps the
# expired value for good.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use MantisTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $n = mantis_node('solo', "mantis.watch_memory = '64kB'\n");

# how the follower's next answer comes by a scan: the log moved past its
# cursor, or the server restarted (clean)
for my $how ('log moved past', 'restart')
{
	my $pids = $n->safe_psql('postgres',
		q{SELECT string_agg(backend_type || ':' || pid, ',') FROM pg_stat_activity WHERE backend_type LIKE 'mantis%'});
	# the sweep runs in the persistence worker: stall it (a flush waiting
	# on a lock on mantis_stores stalls it the same way)
	my ($persist) = $pids =~ /mantis worker:(\d+)/;
	die "no persistence worker in $pids" unless $persist;

	$n->safe_psql('postgres', q{SELECT mantis_set('t', 'soon', '1 second')});
	my %map;
	my $out = $n->safe_psql('postgres', q{SELECT key, value, cursor FROM mantis_changes(NULL)});
	my $cursor;
	for (split /\n/, $out) { my ($k, $v, $c) = split /\|/; $map{$k} = $v; $cursor = $c }
	is($map{t}, 'soon', "$how: snapshot has t");
	kill 'STOP', $persist;
	# past the expiry: the follower's answer says nothing of t (not swept yet)
	$n->poll_query_until('postgres', q{SELECT mantis_get('t') IS NULL}) or die;
	$out = $n->safe_psql('postgres', "SELECT key, deleted, cursor FROM mantis_changes('$cursor')");
	note "answer after the expiry, unswept: '$out'";
	$cursor = $n->safe_psql('postgres', "SELECT mantis_cursor()") if $out eq '';
	for (split /\n/, $out) { my ($k, $d, $c) = split /\|/; delete $map{$k} if $d eq 't'; $cursor = $c }
	if ($how eq 'restart')
	{
		kill 'CONT', $persist;
		$n->restart;
		wait_loaded($n);
	}
	else
	{
		$n->safe_psql('postgres',
			q{SET mantis.transactional = off; SELECT count(mantis_set('fill' || (i % 50), repeat('x', 10))) FROM generate_series(1, 5000) i});
		kill 'CONT', $persist;
	}
	$n->psql('postgres', "SELECT key, deleted FROM mantis_changes('$cursor') WHERE key = 't'",
		stdout => \my $rows, stderr => \my $err);
	note "follow from the cursor: rows '$rows' err '$err'";
	ok($rows =~ /^t\|t$/m || $err =~ /MT001|cannot answer/, "$how: the expiry comes (or MT001), never nothing");
}
$n->stop;
done_testing();
