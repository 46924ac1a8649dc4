# A server that comes back with an older state of a member - a lagging
# standby promoted in its place, or a restored backup - never gives a
# deleted key back (issue 18, case 3).  n2 flushed and acknowledged n1's
# deletion of k, and both collected the marker by acknowledgement; n2 dies,
# and its asynchronous standby, which had not replayed that flush, is
# promoted as n2 (same node name, same endpoint) still holding k's old
# value.  Collection raises the refusal horizon, so n1 refuses that copy
# and the promoted n2 gives it up.  The same with n1 restored from a base
# backup taken before a later deletion of k2: k2 stays deleted.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $t_start = time();
# Repair rounds only when a link (re)connects or a peer restarts: no round
# sends a marker back to a server that has collected it already.
my $c = mantis_cluster(2, qq{
mantis.sync_interval = '1h'
mantis.peer_timeout = '1s'
mantis.flush_interval = '100ms'
}, init => { allows_streaming => 1 });
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub value { my ($n, $key) = @_; return sql($n, qq{SELECT coalesce(mantis_get('$key'), '<deleted>')}) }

sub wait_ready
{
	my ($n) = @_;
	$n->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
	  or die $n->name . ' did not load its store';
}

sub wait_connected
{
	for my $n (@_)
	{
		$n->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mantis_peers WHERE state = 'connected'})
		  or die $n->name . ' did not connect to its peer';
	}
}

# wait until no node holds anything of a key, not even a marker, at the same
# time (a node that has not swept yet may send a marker back to one that has)
sub wait_collected
{
	my ($key, @nodes) = @_;
	my $q = qq{SELECT EXISTS (SELECT FROM mantis_registers('$key', true) WHERE key = '$key')};
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (time() < $deadline)
	{
		return 1 unless grep { sql($_, $q) eq 't' } @nodes;
		usleep(100_000);
	}
	return 0;
}

wait_connected($n1, $n2);

# --- old values everywhere, flushed; a standby of n2, a backup of n1 --------
sql($n1, q{SELECT mantis_set('k', 'old'), mantis_set('k2', 'old2')});
ok($n2->poll_query_until('postgres', q{SELECT mantis_get('k') = 'old' AND mantis_get('k2') = 'old2'}),
	'n2 reads k and k2');
sql($_, q{SELECT mantis_flush()}) for ($n1, $n2);
$n1->backup('n1_before');
$n2->backup('n2_before');
my $standby = PostgreSQL::Test::Cluster->new('n2_standby');
$standby->init_from_backup($n2, 'n2_before', has_streaming => 1);
$standby->start;
ok($standby->poll_query_until('postgres',
	q{SELECT persistence = 'standby' AND mantis_get('k') = 'old' FROM mantis_status}),
	"n2's standby follows it and reads k = old");

# the standby stops receiving WAL: it lags from now on
$standby->append_conf('postgresql.conf', "primary_conninfo = ''\n");
$standby->reload;
ok($standby->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_wal_receiver}),
	'the standby no longer receives WAL');

# --- n1 deletes k; n2 flushes; both collect the marker ------------------------
sql($n1, q{SELECT mantis_delete('k')});
ok($n2->poll_query_until('postgres', q{SELECT mantis_get('k') IS NULL}), 'the deletion reaches n2');
sql($n2, q{SELECT mantis_flush()});
ok(wait_collected('k', $n1, $n2), 'n1 and n2 collect the marker of k (every member holds it)');
is(value($standby, 'k'), 'old', 'the lagging standby still reads k = old');

# --- n2 dies; its standby is promoted as n2 ----------------------------------
$n2->stop('immediate');
$standby->promote;
wait_ready($standby);
# From now on, periodic rounds: a server adopts away what a peer collected
# only once a round with each member since its start has merged all that
# member holds, so the first round after a start is not the one.
sql($_, q{ALTER SYSTEM SET mantis.sync_interval = '500ms'; SELECT pg_reload_conf()})
  for ($n1, $standby);
is(sql($standby, q{SELECT node_name FROM mantis_status}), 'n2', 'the promoted standby is node n2');
wait_connected($n1, $standby);
pass('n1 and the promoted n2 are connected (a repair round each way)');
ok(wait_converged($n1, $standby), 'n1 and the promoted n2 converge');
is(value($_, 'k'), '<deleted>', ($_ == $n1 ? 'n1' : 'the promoted n2') . ' reads k deleted') for ($n1, $standby);

# --- a restored backup of n1 ---------------------------------------------------
sql($standby, q{SELECT mantis_delete('k2')});
ok($n1->poll_query_until('postgres', q{SELECT mantis_get('k2') IS NULL}), 'a deletion of k2 on n2 reaches n1');
sql($n1, q{SELECT mantis_flush()});
ok(wait_collected('k2', $n1, $standby), 'n1 and n2 collect the marker of k2');
$n1->stop('immediate');
my $restored = PostgreSQL::Test::Cluster->new('n1_restored');
$restored->init_from_backup($n1, 'n1_before');
$restored->start;
wait_ready($restored);
sql($restored, q{ALTER SYSTEM SET mantis.sync_interval = '500ms'; SELECT pg_reload_conf()});
is(sql($restored, q{SELECT node_name || ' ' || coalesce(mantis_get('k2'), '<deleted>') FROM mantis_status}), 'n1 old2',
	'n1, restored from the backup taken before, is node n1 and reads k2 = old2');
wait_connected($restored, $standby);
pass('the restored n1 and n2 are connected (a repair round each way)');
ok(wait_converged($restored, $standby), 'the restored n1 and n2 converge');
for my $n ($restored, $standby)
{
	my $name = $n == $restored ? 'the restored n1' : 'n2';
	is(value($n, 'k2'), '<deleted>', "$name reads k2 deleted");
	is(value($n, 'k'), '<deleted>', "$name reads k deleted");
}

for my $n ($n1, $n2, $standby, $restored)
{
	unlike(slurp_file($n->logfile), qr/PANIC|terminated by signal/, $n->name . ' logged no crash');
}
$_->stop for ($standby, $restored);
note(sprintf('total %.0f s', time() - $t_start));
done_testing();
