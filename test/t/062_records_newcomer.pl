# Records (R7) and a brand new server: n4 joins (listed by the others with
# a reload) while n1 and n2 hold records of deletions that n3, away, has
# not seen.  n4 starts empty; it must never serve a deleted key, whether
# from n1's and n2's repair answers (which carry records as hash
# tombstones, not registers) or from n3, which comes back still holding its
# old values and pushes them to n4 as to the others.  The four converge.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use MantisTest;

my $conf = q{
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
mantis.tombstone_lifetime = '1h'
mantis.max_dead_records = 1024
mantis.compact_rows = 1
};
my $c = mantis_cluster(3, $conf);
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub served
{
	my ($n) = @_;
	return sql($n, q{SELECT count(*) FROM generate_series(1, 100) i WHERE mantis_get('a' || i) IS NOT NULL});
}

sub status
{
	my ($n) = @_;
	return sql($n, q{SELECT format('keys %s deleted %s held_back %s refusal %s collection %s',
	  keys, deleted_keys, held_back, refusal_horizon, collection) FROM mantis_status});
}

wait_peers_connected(2, $n1, $n2, $n3);
sql($n1, q{SELECT count(mantis_set('a' || i, 'old ' || i)) FROM generate_series(1, 100) i});
ok(wait_converged($n1, $n2, $n3), 'the three hold a1..a100');
$n3->stop;
$n1->poll_query_until('postgres', q{SELECT state <> 'connected' FROM mantis_peers WHERE node_name = 'n3'})
  or die 'n1 never saw n3 go';
sql($n1, q{SELECT count(mantis_delete('a' || i)) FROM generate_series(1, 100) i});
for my $n ($n1, $n2)
{
	$n->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
	  or diag($n->name . ': ' . status($n));
}

# --- n4, new and empty, lists n1..n3; n1..n3 list it too -----------------------
my $zmq4 = PostgreSQL::Test::Cluster::get_free_port();
my $peers4 = join ',', map { "tcp://127.0.0.1:$c->{zmq}[$_]" } 1 .. 3;
my $n4 = mantis_node('n4', qq{
mantis.listen = 'tcp://127.0.0.1:$zmq4'
mantis.peers = '$peers4'
} . $conf);
for my $n ($n1, $n2)
{
	my $peers = sql($n, q{SHOW mantis.peers});
	sql($n, qq{ALTER SYSTEM SET mantis.peers = '$peers,tcp://127.0.0.1:$zmq4'; SELECT pg_reload_conf()});
}
{
	my $peers = join ',', map { "tcp://127.0.0.1:$c->{proxy}{\"3>$_\"}[0]" } 1, 2;
	$n3->append_conf('postgresql.conf', "mantis.peers = '$peers,tcp://127.0.0.1:$zmq4'\n");
}
$n4->poll_query_until('postgres', q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected' AND protocol = 5})
  or diag('n4: ' . sql($n4, q{SELECT string_agg(node_name || ' ' || state || ' ' || protocol, ', ') FROM mantis_peers}));
ok(wait_converged($n1, $n2, $n4), 'n4 holds what n1 and n2 hold');
is(served($n4), '0', 'n4 serves no deleted key');

# --- n3 comes back with its old values ---------------------------------------------
$n3->start;
wait_loaded($n3);
my $worst = 0;
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
while (time() < $deadline)
{
	my $s = served($n4);
	$worst = $s if $s > $worst;
	last if served($n3) == 0 && sql($n3, q{SELECT count(*) FROM mantis_peers WHERE state = 'connected'}) == 3;
	usleep(100_000);
}
is(served($n3), '0', 'n3 gives up its old values');
is($worst, 0, "n4 never served a deleted key (most at once: $worst)");
ok(wait_converged($n1, $n2, $n3, $n4), 'the four converge');
is(served($_), '0', $_->name . ': nothing deleted comes back') for ($n1, $n2, $n3, $n4);
note($_->name . ': ' . status($_)) for ($n1, $n2, $n3, $n4);
$_->stop for ($n1, $n2, $n3, $n4);
done_testing();
