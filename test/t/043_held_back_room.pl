# Registers a row of mantis_stores held back for lack of room come back
# once there is room again, without waiting for a compaction due by rows
# or bytes (persist/retry.c).  Two servers hold 30,000 live keys in three
# flushes of 10,000 (a.*, b.*, c.*, one row each, oldest first) and
# restart with mantis.max_keys = 10000: each loads a.* and holds back
# b.* and c.* (20,000).  n1 deletes every a.*; once both have collected
# the markers (by acknowledgement), each retries its rows without being
# asked, and b.* is back (10,000 still held back: the store is full
# again).  Then every b.* is deleted, and c.* is back: nothing is held
# back, and mantis_status.collection no longer says that keys wait.  The
# deleted keys stay deleted, also after a restart.  And on a server alone,
# values held back for mantis.store_memory come back once deletions have
# freed memory for them.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $n_keys = 10000;    # per flush, and mantis.max_keys after the restart

my $c = mantis_cluster(2, qq{
mantis.max_keys = 40000
mantis.flush_interval = '100ms'
mantis.compact_rows = 1000
mantis.peer_timeout = '2s'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];
my @all = ($n1, $n2);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub status { my ($n, $col) = @_; return sql($n, "SELECT $col FROM mantis_status") }

# how many of the keys PREFIX.1 .. PREFIX.n_keys a node holds, with their value
sub held_keys
{
	my ($n, $prefix) = @_;
	return sql($n, qq{SELECT count(*) FROM generate_series(1, $n_keys) i
	                  WHERE mantis_get('$prefix.' || i) = '$prefix-value-' || i});
}

wait_loaded($_) for @all;
wait_peers_connected(1, @all);

# --- three flushes of 10,000 live keys: three rows, in this order -----------
for my $prefix (qw(a b c))
{
	sql($n1, qq{SELECT count(mantis_set('$prefix.' || i, '$prefix-value-' || i))
	            FROM generate_series(1, $n_keys) i});
	for my $n (@all)
	{
		$n->poll_query_until('postgres', qq{SELECT mantis_get('$prefix.$n_keys') IS NOT NULL})
		  or die $n->name . " did not receive $prefix.*";
		is(held_keys($n, $prefix), $n_keys, $n->name . ": holds every $prefix.*");
		sql($n, q{SELECT mantis_flush()});
	}
}
for my $n (@all)
{
	is(sql($n, q{SELECT count(*) FROM mantis_stores, mantis_decode(registers) d
	             WHERE d.key LIKE 'c.%' AND mantis_stores.id < (SELECT min(s.id) FROM mantis_stores s, mantis_decode(s.registers) e WHERE e.key LIKE 'b.%')}),
		'0', $n->name . ': the rows hold c.* after b.*');
}

# --- restart with room for a.* only ------------------------------------------
for my $n (@all)
{
	$n->append_conf('postgresql.conf', "mantis.max_keys = $n_keys\n");
	$n->restart;
}
wait_loaded($_) for @all;
wait_peers_connected(1, @all);
for my $n (@all)
{
	is(status($n, 'held_back'), 2 * $n_keys, $n->name . ': b.* and c.* are held back');
	is(held_keys($n, 'a'), $n_keys, $n->name . ': a.* is loaded');
	like(status($n, 'collection'), qr/keys held back in mantis_stores wait/,
		$n->name . ': the status says keys held back wait');
}

# --- every a.* deleted: once the markers are collected, b.* comes back -------
my %collected = map { ($_->name => status($_, 'collected_deletions')) } @all;
is(sql($n1, qq{SELECT count(*) FROM generate_series(1, $n_keys) i WHERE mantis_delete('a.' || i)}),
	$n_keys, 'n1 deletes every a.*');
for my $n (@all)
{
	ok($n->poll_query_until('postgres',
		qq{SELECT collected_deletions >= $collected{$n->name} + $n_keys FROM mantis_status}),
		$n->name . ': the markers of a.* are collected');
	ok($n->poll_query_until('postgres', qq{SELECT held_back = $n_keys FROM mantis_status}),
		$n->name . ': with room for 10,000, held_back falls to 10,000 without a compaction asked');
	is(held_keys($n, 'b'), $n_keys, $n->name . ': b.* is back, with its values');
	is(sql($n, qq{SELECT count(*) FROM generate_series(1, $n_keys) i WHERE mantis_get('a.' || i) IS NOT NULL}),
		'0', $n->name . ': a.* stays deleted');
	like(status($n, 'collection'), qr/keys held back in mantis_stores wait/,
		$n->name . ': c.*, held back still, waits');
}

# --- every b.* deleted: c.* comes back, nothing is held back -----------------
%collected = map { ($_->name => status($_, 'collected_deletions')) } @all;
is(sql($n1, qq{SELECT count(*) FROM generate_series(1, $n_keys) i WHERE mantis_delete('b.' || i)}),
	$n_keys, 'n1 deletes every b.*');
for my $n (@all)
{
	ok($n->poll_query_until('postgres', q{SELECT held_back = 0 FROM mantis_status}),
		$n->name . ': held_back falls to 0');
	is(held_keys($n, 'c'), $n_keys, $n->name . ': c.* is back, with its values');
	unlike(status($n, 'collection'), qr/held back/,
		$n->name . ': the status no longer says keys held back wait');
	is(sql($n, qq{SELECT count(*) FROM generate_series(1, $n_keys) i
	             WHERE mantis_get('a.' || i) IS NOT NULL OR mantis_get('b.' || i) IS NOT NULL}),
		'0', $n->name . ': a.* and b.* stay deleted');
}

# --- a restart loads c.*, and nothing deleted comes back ---------------------
for my $n (@all)
{
	sql($n, q{SELECT mantis_flush()});
	$n->restart;
}
wait_loaded($_) for @all;
for my $n (@all)
{
	is(status($n, 'held_back'), '0', $n->name . ': after a restart nothing is held back');
	is(held_keys($n, 'c'), $n_keys, $n->name . ': c.* is loaded');
	is(sql($n, qq{SELECT count(*) FROM generate_series(1, $n_keys) i
	             WHERE mantis_get('a.' || i) IS NOT NULL OR mantis_get('b.' || i) IS NOT NULL}),
		'0', $n->name . ': a.* and b.* stay deleted');
}

$_->stop for @all;

# --- for mantis.store_memory too, on a server alone (it collects by its own
# clock): 1,500 values of 2,000 bytes, restarted with 1 MB ----------------------
my $m = mantis_node('m1', qq{
mantis.store_memory = '4MB'
mantis.flush_interval = '100ms'
});
wait_loaded($m);
sql($m, q{SELECT count(mantis_set('m.' || i, repeat('x', 1990) || lpad(i::text, 10, '0'))) FROM generate_series(1, 1500) i});
sql($m, q{SELECT mantis_flush()});
$m->append_conf('postgresql.conf', "mantis.store_memory = '1MB'\n");
$m->restart;
wait_loaded($m);
my $held = status($m, 'held_back');
my $loaded = sql($m, q{SELECT count(*) FROM mantis_registers('m.')});
ok($held > 0 && $loaded > 0 && $held + $loaded == 1500,
	"m1: with 1 MB, $loaded values are loaded and $held held back");
is(sql($m, q{SELECT count(*) FROM mantis_registers('m.') r WHERE mantis_delete(r.key)}), $loaded,
	'm1: every value loaded is deleted, though no memory is left for a marker (in place)');
ok($m->poll_query_until('postgres', qq{SELECT held_back < $held FROM mantis_status}),
	'm1: once their memory is freed, held_back falls');
is(sql($m, q{SELECT count(*) FROM mantis_registers('m.') r
             WHERE r.value <> repeat('x', 1990) || lpad(substr(r.key, 3), 10, '0')}),
	'0', 'm1: the values back are whole');
is(sql($m, qq{SELECT count(*) - $held + (SELECT held_back FROM mantis_status) FROM mantis_registers('m.')}),
	'0', 'm1: as many values are back as held_back fell by');
$m->stop;

done_testing();
