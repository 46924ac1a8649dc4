# Servers that list only a hub never bring a deleted key back (issue 18,
# case 2).  n1 lists n2 and n3; n2 and n3 list only n1.  A deletion made on
# n2 reaches n1 live, but n1 does not relay what it merges, so n3 gets it
# only from a repair round with n1.  Each server's acknowledgements cover
# only its own peers, so if n1 and n2 collected the marker by
# acknowledgement, n3's old value would come back at its next round with n1,
# and from n1 to n2.  The member sets differ (n1 counts three servers, n2 and
# n3 two), so only mantis.tombstone_lifetime may collect the marker, and a
# server that collected it refuses the old copy: the key stays deleted on
# every server.  And nothing committed is given up on the way: a write each
# server made before the deletion is on all three at the end (n2's reaches
# n3 only through repair rounds with n1, after n3 has given k up).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $t_start = time();
# Repair rounds only when a link (re)connects: n3 cannot get the deletion
# from n1 by a periodic round before the marker is collected.
my $c = mantis_cluster(3, qq{
mantis.sync_interval = '1h'
mantis.peer_timeout = '1s'
mantis.flush_interval = '100ms'
mantis.tombstone_lifetime = '10s'
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];
my @all = ($n1, $n2, $n3);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub restart_loaded
{
	my ($n) = @_;
	$n->restart;
	$n->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
	  or die $n->name . ' did not load its store';
}

for my $n (@all)
{
	$n->poll_query_until('postgres', q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected'})
	  or die $n->name . ' did not connect to its peers';
}

# --- the hub: n2 and n3 list only n1 -----------------------------------------
# (their links cut first, so that neither connects to the other again and
# counts as an inbound peer there)
cut_link($c, 2, 3);
cut_link($c, 3, 2);
for my $i (2, 3)
{
	my $n = $c->{nodes}[$i];
	sql($n, qq{ALTER SYSTEM SET mantis.peers = 'tcp://127.0.0.1:$c->{proxy}{"$i>1"}[0]'; SELECT pg_reload_conf()});
	my $other = $i == 2 ? 'n3' : 'n2';
	ok($n->poll_query_until('postgres',
		qq{SELECT count(*) = 0 FROM mantis_peers WHERE node_name = '$other'}),
		$n->name . " lists only n1, and has no row for $other");
}
ok($n1->poll_query_until('postgres', q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected'}),
	'n1 is connected to n2 and n3');

# A write on each server (to be found on all three at the end).  Until a
# repair round has mended a peer's live stream (the first ones after a
# start), every frame of it asks for another round; wait until each link's
# stream is whole - these writes acknowledged - so that no round runs
# between n1 and n3 from now on until n3 restarts.
for my $i (1, 2, 3)
{
	sql($c->{nodes}[$i], qq{SELECT mantis_set('warm.n$i', 'w')});
}
# In a hub, n2's write reaches n3 (and n3's n2) only through repair rounds
# with n1, here only when a link connects: restart n2 and n3 once n1 holds
# all three, so that each pulls the other's from n1.  (The lifetime is for
# writes that had a lifetime to reach every server: these have.)
my $warm = q{SELECT count(*) = 3 FROM mantis_registers('warm.')};
$n1->poll_query_until('postgres', $warm) or die 'n1 never held the three warm writes';
restart_loaded($_) for ($n2, $n3);
for my $n (@all)
{
	$n->poll_query_until('postgres', $warm) or die $n->name . ' never held the three warm writes';
}
# and no server collects by acknowledgement: they count other members
for my $n (@all)
{
	ok($n->poll_query_until('postgres',
		q{SELECT collection LIKE 'lifetime only: peers count other members%' FROM mantis_status}),
		$n->name . ' collects by lifetime only: its peers count other members');
}
for my $pair ([ 1, 2 ], [ 2, 1 ], [ 1, 3 ], [ 3, 1 ])
{
	my ($i, $j) = @$pair;
	my ($n, $name) = ($c->{nodes}[$i], "n$j");
	my $t = substr(sql($n, qq{SELECT hlc FROM mantis_registers('warm.n$i') WHERE key = 'warm.n$i'}), 0, 24);
	$n->poll_query_until('postgres',
		qq{SELECT coalesce(max(acknowledged) > '$t'::timestamptz, false) FROM mantis_peers WHERE node_name = '$name'})
	  or die "$name never acknowledged the writes of n$i";
}
pass('n2 and n3 acknowledge the writes of n1, and n1 theirs');

# --- an old value everywhere, deleted on n2 ---------------------------------
sql($n1, q{SELECT mantis_set('k', 'old')});
for my $n ($n2, $n3)
{
	ok($n->poll_query_until('postgres', q{SELECT mantis_get('k') = 'old'}), $n->name . ' reads k = old');
}
sql($n2, q{SELECT mantis_delete('k')});
ok($n1->poll_query_until('postgres', q{SELECT mantis_get('k') IS NULL}), "n2's deletion reaches n1 live");

# n1 and n2 collect the marker: by acknowledgement at main (within seconds),
# by the 10 s lifetime where only the lifetime may collect.  Both at the same
# time: one that has not swept yet could send the marker back to the other.
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
note('n3 reads k as ' . sql($n3, q{SELECT coalesce(mantis_get('k'), '<deleted>')})
	. ' (no repair round with n1 since the deletion)');

# --- repair rounds: n3 with n1, then n2 with n1 ------------------------------
# From now on, periodic rounds: a server adopts away what a peer collected
# only once a round with each member since its start has merged all that
# member holds, so the first round after a restart is not the one.
sql($_, q{ALTER SYSTEM SET mantis.sync_interval = '500ms'; SELECT pg_reload_conf()}) for @all;
restart_loaded($n3);
ok($n3->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mantis_peers WHERE state = 'connected'}),
	'n3 restarted and reconnected to n1 (a repair round each way)');
ok(wait_converged($n1, $n3), 'n1 and n3 converge');
is(sql($_, q{SELECT coalesce(mantis_get('k'), '<deleted>')}), '<deleted>',
	$_->name . ' reads k deleted after the round of n1 and n3') for ($n1, $n3);
# (n2 is not restarted: its rows may still hold the marker, and loading them
# would put it back in n2's memory, which is not the case to test; its
# links to n1 are cut instead until each counts the other down, and healed)
cut_link($c, 2, 1);
cut_link($c, 1, 2);
ok($n2->poll_query_until('postgres', q{SELECT state = 'down' FROM mantis_peers WHERE node_name = 'n1'})
	  && $n1->poll_query_until('postgres', q{SELECT state = 'down' FROM mantis_peers WHERE node_name = 'n2'}),
	'n1 and n2, cut apart, count each other down');
heal_link($c, 2, 1);
heal_link($c, 1, 2);
ok($n2->poll_query_until('postgres', q{SELECT state = 'connected' FROM mantis_peers WHERE node_name = 'n1'})
	  && $n1->poll_query_until('postgres', q{SELECT state = 'connected' FROM mantis_peers WHERE node_name = 'n2'}),
	'n1 and n2 reconnect (a repair round each way)');
ok(wait_converged(@all), 'the three converge');
is(sql($_, q{SELECT coalesce(mantis_get('k'), '<deleted>')}), '<deleted>',
	$_->name . ' reads k deleted') for @all;
# nothing committed is lost on the way: the writes made on each server
# before k (n2's reach n3, and n3's n2, only through rounds with n1)
is(sql($_, q{SELECT string_agg(key || '=' || value, ' ' ORDER BY key) FROM mantis_registers('warm.')}),
	'warm.n1=w warm.n2=w warm.n3=w', $_->name . ' holds the writes of all three made before k') for @all;

for my $n (@all)
{
	unlike(slurp_file($n->logfile), qr/PANIC|terminated by signal/, $n->name . ' logged no crash');
}
$_->stop for @all;
note(sprintf('total %.0f s', time() - $t_start));
done_testing();
