# Rows held back at load come back once room is freed, also when only one
# server of the cluster was restarted with a lower mantis.max_keys (the
# operator's way: one server at a time).  Two servers hold a.* then b.*
# (1,000 keys each, two flushes); n2 alone restarts with max_keys = 1,000:
# it loads a.* and holds b.* back, which n1 still holds.  n1 deletes every
# a.*: n2 takes the deletions in place (its store is full), and once the
# markers are collected b.* must come back on n2.
#
# On main (2026-12-07) nothing is ever collected: n2, full, refuses n1's
# copies of b.* in every repair round (rejected_no_room, a hole), so no
# round with n1 is clean and n2 acknowledges nothing of n1; the horizon
# stays empty on both servers, the 1,000 markers fill n2 until
# mantis.tombstone_lifetime, and b.* never comes back (the poll below
# times out).  n1 meanwhile says "waiting for a peer's acknowledgement (n2)".
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $n_keys = 1000;

my $c = mantis_cluster(2, qq{
mantis.max_keys = 10000
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];
my @all = ($n1, $n2);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub status { my ($n, $col) = @_; return sql($n, "SELECT $col FROM mantis_status") }

sub held_keys
{
	my ($n, $prefix) = @_;
	return sql($n, qq{SELECT count(*) FROM generate_series(1, $n_keys) i
	                  WHERE mantis_get('$prefix.' || i) = '$prefix-value-' || i});
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

# --- n2 alone restarts with room for a.* only --------------------------------
$n2->append_conf('postgresql.conf', "mantis.max_keys = $n_keys\n");
$n2->restart;
wait_loaded($n2);
wait_peers_connected(1, @all);
is(status($n2, 'held_back'), $n_keys, 'n2: b.* is held back');
is(held_keys($n2, 'a'), $n_keys, 'n2: a.* is loaded');

# --- n1 deletes every a.*: n2 takes the deletions in place --------------------
is(sql($n1, qq{SELECT count(*) FROM generate_series(1, $n_keys) i WHERE mantis_delete('a.' || i)}),
	$n_keys, 'n1 deletes every a.*');
$n2->poll_query_until('postgres', qq{SELECT count(*) = 0 FROM generate_series(1, $n_keys) i
                                     WHERE mantis_get('a.' || i) IS NOT NULL})
  or die 'n2 did not take the deletions';

ok($n2->poll_query_until('postgres', q{SELECT held_back = 0 FROM mantis_status}),
	'n2: once the markers of a.* are collected, b.* is no longer held back');
is(held_keys($n2, 'b'), $n_keys, 'n2: b.* is back, with its values');
is(sql($n2, qq{SELECT count(*) FROM generate_series(1, $n_keys) i WHERE mantis_get('a.' || i) IS NOT NULL}),
	'0', 'n2: a.* stays deleted');
ok($n1->poll_query_until('postgres', qq{SELECT collected_deletions >= $n_keys FROM mantis_status}),
	'n1: the markers of a.* are collected');

$_->stop for @all;
done_testing();
