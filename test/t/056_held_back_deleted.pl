# What a peer deletes or lets expire of the keys a full server holds back
# stays deleted once room comes back, on every server and across
# restarts, and collection goes on (operator break of heldset, hbrk).
#
# Two servers hold a.* then b.* (500 keys each, two flushes); n2 alone
# restarts with max_keys = 500: a.* loaded, b.* held back.  While n2 is
# full, n1 deletes b.1..50 and gives b.51..60 new values living 1 s.
# n2 restarts with max_keys = 10000 again: every held-back row comes back,
# the deleted and expired keys stay absent on both servers, their dead
# registers are collected everywhere, and after another restart of n2
# (its rows rewritten by then) nothing of them comes back.
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
mantis.compact_rows = 10
mantis.peer_timeout = '2s'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];
my @all = ($n1, $n2);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub status { my ($n, $col) = @_; return sql($n, "SELECT $col FROM mantis_status") }

sub count_present
{
	my ($n, $prefix, $from, $to) = @_;
	return sql($n, qq{SELECT count(*) FROM generate_series($from, $to) i
	                  WHERE mantis_get('$prefix.' || i) IS NOT NULL});
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

# --- n2 restarts full: b.* held back ---------------------------------------------
$n2->append_conf('postgresql.conf', "mantis.max_keys = $n_keys\n");
$n2->restart;
wait_loaded($n2);
wait_peers_connected(1, @all);
is(status($n2, 'held_back'), $n_keys, 'n2: b.* is held back');

# --- n1 deletes b.1..50, gives b.51..60 a TTL of 1 s -------------------------------
sql($n1, q{SELECT count(*) FROM generate_series(1, 50) i WHERE mantis_delete('b.' || i)});
sql($n1, q{SELECT count(mantis_set('b.' || i, 'short', interval '1 second')) FROM generate_series(51, 60) i});
ok($n2->poll_query_until('postgres', q{SELECT sum(rejected_no_room) > 0 FROM mantis_peers}),
	'n2 refuses what n1 wrote of the held-back keys');
note('n2 full: ' . sql($n2, q{SELECT held_back || ' held back / ' || collection FROM mantis_status}));
note('n1: ' . sql($n1, q{SELECT collection FROM mantis_status}));

# --- n2 restarts with room again -------------------------------------------------------
$n2->append_conf('postgresql.conf', "mantis.max_keys = 10000\n");
$n2->restart;
wait_loaded($n2);
wait_peers_connected(1, @all);
ok($n2->poll_query_until('postgres', q{SELECT held_back = 0 FROM mantis_status}),
	'n2: nothing held back with room again');
for my $n (@all)
{
	my $name = $n->name;
	ok($n->poll_query_until('postgres', q{SELECT count(*) = 0 FROM generate_series(1, 60) i
	                                      WHERE mantis_get('b.' || i) IS NOT NULL}),
		"$name: b.1..60 deleted or expired");
	is(count_present($n, 'b', 61, $n_keys), $n_keys - 60, "$name: b.61..$n_keys back");
	is(count_present($n, 'a', 1, $n_keys), $n_keys, "$name: a.* held");
	ok($n->poll_query_until('postgres', q{SELECT count(*) = 0 FROM mantis_registers('b.', true) r
	                                      WHERE r.value IS NULL OR r.key IN (SELECT 'b.' || i FROM generate_series(1, 60) i)}),
		"$name: the dead registers of b.1..60 are collected");
}

# --- collection goes on everywhere ---------------------------------------------------------
sql($n1, q{SELECT count(*) FROM generate_series(1, 20) i WHERE mantis_delete('a.' || i)});
sql($n2, q{SELECT count(*) FROM generate_series(21, 40) i WHERE mantis_delete('a.' || i)});
for my $n (@all)
{
	ok($n->poll_query_until('postgres', q{SELECT count(*) = 0 FROM mantis_registers('a.', true) r
	                                      WHERE r.value IS NULL}),
		$n->name . ': new deletions are collected');
}

# --- and nothing deleted comes back from n2's rows --------------------------------------------
sql($n2, q{SELECT mantis_flush()});
is(sql($n2, q{SELECT count(*) FROM (SELECT DISTINCT ON (d.key) d.deleted, d.expires_at
                                      FROM mantis_stores s, mantis_decode(s.registers) d
                                      WHERE d.key IN (SELECT 'b.' || i FROM generate_series(1, 60) i)
                                      ORDER BY d.key, d.hlc DESC) last
              WHERE NOT last.deleted AND (last.expires_at IS NULL OR last.expires_at > now())}),
	'0', 'n2: of b.1..60, no row holds a live register newer than every dead one');
$n1->stop;
$n2->restart;
wait_loaded($n2);
is(count_present($n2, 'b', 1, 60), '0', 'n2 alone after a restart: b.1..60 stay absent');
is(count_present($n2, 'a', 1, 40), '0', 'n2 alone after a restart: a.1..40 stay absent');
is(count_present($n2, 'b', 61, $n_keys), $n_keys - 60, "n2 alone after a restart: b.61..$n_keys held");

$_->stop for @all;
done_testing();
