# A full server that holds rows back survives what an operator does to it
# (operator break of heldset, hbrk): a crash (kill -9 of the postmaster),
# and DROP EXTENSION then CREATE EXTENSION mantis.  (A peer deleting keys
# it holds back: 048.)
#
# Two servers hold a.* then b.* (500 keys each, two flushes); n2 alone
# restarts with max_keys = 500: a.* loaded, b.* held back.
#	- kill -9 n2: after the crash restart b.* is held back again and the
#	  peers' copies of it are still no hole: n1 deletes a.1..100, the
#	  markers are collected on both, and n2 takes 100 keys of b.* back;
#	- DROP EXTENSION mantis on n2 (still full, rows held back), n1 writes
#	  and deletes meanwhile, CREATE EXTENSION mantis: nothing n1 holds is
#	  adopted away, n2 holds no deleted key, and once n2 restarts with
#	  room every live key of n1 is on both servers.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $n_keys = 500;

my $c = mantis_cluster(2, qq{
mantis.max_keys = 10000
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];
my @all = ($n1, $n2);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub status { my ($n, $col) = @_; return sql($n, "SELECT $col FROM mantis_status") }

# let "count" repair rounds of n1 with n2 pass (what n2 answers, n1 adopts by)
sub rounds_pass
{
	my ($count) = @_;
	my $r = sql($n1, q{SELECT max(repair_rounds) FROM mantis_peers});
	$n1->poll_query_until('postgres', qq{SELECT max(repair_rounds) >= $r + $count FROM mantis_peers})
	  or die 'no repair rounds of n1';
}

sub live_dump
{
	my ($n) = @_;
	return sql($n, q{SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM mantis_registers(false)});
}

wait_loaded($_) for @all;
wait_peers_connected(1, @all);

for my $prefix (qw(a b))
{
	sql($n1, qq{SELECT count(mantis_set('$prefix.' || i, '$prefix-value-' || i))
	            FROM generate_series(1, $n_keys) i});
	for my $n (@all)
	{
		$n->poll_query_until('postgres', qq{SELECT mantis_get('$prefix.$n_keys') IS NOT NULL})
		  or die $n->name . " did not receive $prefix.*";
		sql($n, q{SELECT mantis_flush()});
	}
}

$n2->append_conf('postgresql.conf', "mantis.max_keys = $n_keys\n");
$n2->restart;
wait_loaded($n2);
is(status($n2, 'held_back'), $n_keys, 'n2: b.* is held back');

# --- a crash while full ------------------------------------------------------------------
kill_and_start($n2);
wait_loaded($n2);
wait_peers_connected(1, @all);
is(status($n2, 'held_back'), $n_keys, 'n2 after a crash: b.* is held back again');
$n2->poll_query_until('postgres', q{SELECT sum(rejected_no_room) > 0 FROM mantis_peers})
  or die 'n2 did not refuse b.* for room';
sql($n1, q{SELECT count(*) FROM generate_series(1, 100) i WHERE mantis_delete('a.' || i)});
for my $n (@all)
{
	ok($n->poll_query_until('postgres', q{SELECT count(*) = 0 FROM mantis_registers('a.', true) r WHERE r.value IS NULL}),
		$n->name . ': after the crash, the markers of a.1..100 are collected');
}
ok($n2->poll_query_until('postgres', qq{SELECT held_back = $n_keys - 100 FROM mantis_status}),
	'n2: 100 keys of b.* come back from its rows');
note('n2: ' . sql($n2, q{SELECT held_back || ' held back / ' || collection FROM mantis_status}));

# --- DROP EXTENSION and CREATE EXTENSION on n2, full ------------------------------------------
my $held = status($n2, 'held_back');
note("n2 holds back $held before DROP EXTENSION");
sql($n2, q{DROP EXTENSION mantis});
sql($n1, q{SELECT count(mantis_set('c.' || i, 'c-value-' || i)) FROM generate_series(1, 50) i});
sql($n1, q{SELECT count(*) FROM generate_series(201, 250) i WHERE mantis_delete('a.' || i)});
# a few repair rounds while the extension is gone: what n2 acknowledges of n1
rounds_pass(3);
note('n1 while n2 has no extension: ' . sql($n1, q{SELECT collection FROM mantis_status}));
note('n1 peers: ' . sql($n1, q{SELECT string_agg(node_name || ' ' || direction || ' ' || state || ' acked ' || coalesce(acknowledged::text, '-'), '; ') FROM mantis_peers}));
sql($n2, q{CREATE EXTENSION mantis});
wait_loaded($n2);
note('n2 after CREATE EXTENSION: ' . sql($n2, q{SELECT held_back || ' held back / ' || collection || ' / ' || refusal_horizon FROM mantis_status}));
note('n1: ' . sql($n1, q{SELECT collection || ' / ' || refusal_horizon FROM mantis_status}));
rounds_pass(3);
is(sql($n1, qq{SELECT count(*) FROM generate_series(1, $n_keys) i WHERE mantis_get('b.' || i) IS NOT NULL}),
	$n_keys, 'n1 still holds every b.*');
is(sql($n1, q{SELECT count(*) FROM generate_series(101, 500) i WHERE mantis_get('a.' || i) IS NOT NULL}),
	350, 'n1 still holds a.101..200, a.251..500');

# --- n2 restarts with room --------------------------------------------------------------------
$n2->append_conf('postgresql.conf', "mantis.max_keys = 10000\n");
$n2->restart;
wait_loaded($n2);
wait_peers_connected(1, @all);
ok(wait_converged(@all), 'n1 and n2 converge');
for my $n (@all)
{
	ok($n->poll_query_until('postgres', q{SELECT count(*) = 0 FROM mantis_registers(true) r WHERE r.value IS NULL}),
		$n->name . ': every dead register is collected');
}
my $d1 = live_dump($n1);
ok($n2->poll_query_until('postgres', qq{SELECT coalesce(string_agg(key || '=' || value, ',' ORDER BY key), '') = '$d1' FROM mantis_registers(false)}),
	'n2 holds what n1 holds');
is(sql($n1, q{SELECT count(*) FROM mantis_registers(false)}), 350 + $n_keys + 50,
	'n1 holds a.101..200, a.251..500, b.*, c.*');

$_->stop for @all;
done_testing();
