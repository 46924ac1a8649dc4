# A peer taken out of mantis.peers by a reload, and put back, never brings a
# deleted key back (issue 18, case 4).  n3 is cut off and removed from the
# mantis.peers of n1 and n2; n1 deletes k; n1 and n2, now the only members,
# collect the marker by acknowledgement among themselves.  n3 is put back
# still holding k's old value.  Collection by acknowledgement raises the
# refusal horizon like any other, so n1 and n2 refuse n3's copy and n3 gives
# it up: k stays deleted on every server.
#
# Then the same with a peer nobody lists: n3 connects to n1 and n2 (it
# lists them, they list only each other), is cut off, and n1 and n2 are
# restarted, so that their peer tables no longer know it - what happens, at
# main, when an inbound-only peer has been silent for INBOUND_FORGET_MS (10
# minutes, not a setting: src/replication/peers.c) and is forgotten; no test
# waits that long, the restart stands in for it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $t_start = time();
# Repair rounds only when a link (re)connects: no round sends the marker
# back to a server that has collected it already.
my $c = mantis_cluster(3, qq{
mantis.sync_interval = '1h'
mantis.peer_timeout = '1s'
mantis.flush_interval = '100ms'
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];
my @all = ($n1, $n2, $n3);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub value { my ($n, $key) = @_; return sql($n, qq{SELECT coalesce(mantis_get('$key'), '<deleted>')}) }

sub wait_connected
{
	for my $n (@_)
	{
		$n->poll_query_until('postgres', q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected'})
		  or die $n->name . ' did not connect to its peers';
	}
}

wait_connected(@all);

# --- k everywhere; n3 cut off and taken out of mantis.peers -------------------
sql($n1, q{SELECT mantis_set('k', 'old')});
ok($_->poll_query_until('postgres', q{SELECT mantis_get('k') = 'old'}), $_->name . ' reads k = old') for ($n2, $n3);
sql($n3, q{SELECT mantis_flush()});
isolate($c, 3);
for my $n ($n1, $n2)
{
	$n->poll_query_until('postgres', q{SELECT state = 'down' FROM mantis_peers WHERE node_name = 'n3'})
	  or die $n->name . ' never counted n3 down';
}
for my $i (1, 2)
{
	my ($n, $j) = ($c->{nodes}[$i], 3 - $i);
	sql($n, qq{ALTER SYSTEM SET mantis.peers = 'tcp://127.0.0.1:$c->{proxy}{"$i>$j"}[0]'; SELECT pg_reload_conf()});
	ok($n->poll_query_until('postgres', q{SELECT count(*) = 0 FROM mantis_peers WHERE node_name = 'n3'}),
		$n->name . ' no longer lists n3 (reload), and has no row for it');
}

# --- n1 deletes k; n1 and n2 collect the marker by acknowledgement -----------
sql($n1, q{SELECT mantis_delete('k')});
ok($n2->poll_query_until('postgres', q{SELECT mantis_get('k') IS NULL}), 'the deletion reaches n2');
# both at the same time: one that has not swept yet could send it back
my $held = q{SELECT EXISTS (SELECT FROM mantis_registers('k', true) WHERE key = 'k')};
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
usleep(100_000) while grep({ sql($_, $held) eq 't' } $n1, $n2) && time() < $deadline;
ok(!grep({ sql($_, $held) eq 't' } $n1, $n2), 'n1 and n2 collect the marker of k');
for my $n ($n1, $n2)
{
	# (the horizons as mantis_status names them, whatever its version)
	note($n->name . ': ' . sql($n, q{SELECT jsonb_object_agg(key, value) FROM mantis_status s, jsonb_each(to_jsonb(s))
		WHERE key ~ 'horizon|^collection'}));
}
is(value($n3, 'k'), 'old', 'n3, cut off, still reads k = old');

# --- n3 is put back ----------------------------------------------------------
for my $n ($n1, $n2)
{
	sql($n, q{ALTER SYSTEM RESET mantis.peers; SELECT pg_reload_conf()});
}
# From now on, periodic rounds: a server adopts away what a peer collected
# only once a round with each member since its start has merged all that
# member holds, so the first round after a rejoin is not the one.
sql($_, q{ALTER SYSTEM SET mantis.sync_interval = '500ms'; SELECT pg_reload_conf()}) for @all;
rejoin($c, 3);
wait_connected(@all);
pass('n3 is listed again and every node is connected to the two others (repair rounds)');
ok(wait_converged(@all), 'the three converge');
is(value($_, 'k'), '<deleted>', $_->name . ' reads k deleted') for @all;

# --- a peer nobody lists, forgotten ------------------------------------------
# n1 and n2 list only each other again; n3 still lists both and connects
for my $i (1, 2)
{
	my ($n, $j) = ($c->{nodes}[$i], 3 - $i);
	sql($n, qq{ALTER SYSTEM SET mantis.peers = 'tcp://127.0.0.1:$c->{proxy}{"$i>$j"}[0]'; SELECT pg_reload_conf()});
	ok($n->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM mantis_peers WHERE node_name = 'n3' AND direction = 'inbound'}),
		$n->name . ' lists only ' . "n$j" . ', and n3 connects to it (inbound)');
}
sql($n3, q{SELECT mantis_set('k2', 'old2')});
ok($_->poll_query_until('postgres', q{SELECT mantis_get('k2') = 'old2'}), $_->name . ' reads k2 = old2') for ($n1, $n2);
sql($_, q{SELECT mantis_flush()}) for @all;
isolate($c, 3);
for my $n ($n1, $n2)
{
	$n->restart;
	$n->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
	  or die $n->name . ' did not load its store';
}
for my $n ($n1, $n2)
{
	$n->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mantis_peers WHERE state = 'connected'})
	  or die $n->name . ' did not connect to its peer';
	is(sql($n, q{SELECT count(*) FROM mantis_peers WHERE node_name = 'n3'}), '0',
		$n->name . ' restarted while n3 is cut off: it has no row for n3');
}
sql($n1, q{SELECT mantis_delete('k2')});
ok($n2->poll_query_until('postgres', q{SELECT mantis_get('k2') IS NULL}), 'a deletion of k2 on n1 reaches n2');
$held = q{SELECT EXISTS (SELECT FROM mantis_registers('k2', true) WHERE key = 'k2')};
$deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
usleep(100_000) while grep({ sql($_, $held) eq 't' } $n1, $n2) && time() < $deadline;
ok(!grep({ sql($_, $held) eq 't' } $n1, $n2), 'n1 and n2 collect the marker of k2');
is(value($n3, 'k2'), 'old2', 'n3, cut off, still reads k2 = old2');
sql($_, q{ALTER SYSTEM SET mantis.sync_interval = '500ms'; SELECT pg_reload_conf()}) for @all;
rejoin($c, 3);
$n3->poll_query_until('postgres', q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected'})
  or die 'n3 did not connect to n1 and n2';
for my $n ($n1, $n2)
{
	$n->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mantis_peers WHERE node_name = 'n3'})
	  or die $n->name . ' never heard from n3';
}
pass('n3 is back and connects to n1 and n2 (repair rounds)');
ok(wait_converged(@all), 'the three converge');
is(value($_, 'k2'), '<deleted>', $_->name . ' reads k2 deleted') for @all;
is(value($_, 'k'), '<deleted>', $_->name . ' still reads k deleted') for @all;

for my $n (@all)
{
	unlike(slurp_file($n->logfile), qr/PANIC|terminated by signal/, $n->name . ' logged no crash');
}
$_->stop for @all;
note(sprintf('total %.0f s', time() - $t_start));
done_testing();
