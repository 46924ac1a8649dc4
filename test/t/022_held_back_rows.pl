# A row of mantis_stores held back at load (issue 18, an operator review)
# must not bring back a key it also holds, once that key is deleted and
# its marker collected.  Two peers write a row holding a large value "big"
# and a key "k"; both restart with a lower mantis.max_value_size, so the
# row is held back (big) though k merged.  k is deleted, and its marker
# collected by acknowledgement on both servers; then each server compacts,
# which merges the held row again, and restarts, which loads it again: k
# stays deleted on both, and no row holds its old value any more.  With the
# limit raised, big is back on both.  A hot standby of n1, which follows
# its table but never writes, holds the row back too, and a restart of it
# does not bring k back either.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $c = mantis_cluster(2, qq{
mantis.sync_interval = '500ms'
mantis.peer_timeout = '2s'
mantis.flush_interval = '100ms'
mantis.max_value_size = '4kB'
mantis.compact_rows = 1
}, init => { allows_streaming => 1 });
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];
my @all = ($n1, $n2);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub status { my ($n, $col) = @_; return sql($n, "SELECT $col FROM mantis_status") }

# how many registers of a key the rows of a node's mantis_stores hold
sub stored_count
{
	my ($n, $key) = @_;
	return sql($n, qq{SELECT count(*) FROM mantis_stores, mantis_decode(registers) d WHERE d.key = '$key'});
}

sub restart_all
{
	my ($conf) = @_;
	for my $n (@all)
	{
		$n->append_conf('postgresql.conf', $conf) if defined $conf;
		$n->restart;
	}
	wait_loaded($_) for @all;
	wait_peers_connected(1, @all);
}

wait_loaded($_) for @all;
wait_peers_connected(1, @all);

# --- one row holding both a large value and k, on each server ---------------
sql($n1, q{SELECT mantis_set('big', repeat('b', 3000)), mantis_set('k', 'old value'), mantis_set('kept', 'v1')});
for my $n (@all)
{
	$n->poll_query_until('postgres', q{SELECT mantis_get('k') = 'old value' AND length(mantis_get('big')) = 3000})
	  or die $n->name . ' did not receive the registers';
	sql($n, q{SELECT mantis_flush()});
	ok(sql($n, q{SELECT count(*) FROM mantis_stores, mantis_decode(registers) d
	              WHERE d.key IN ('big', 'k') GROUP BY mantis_stores.id ORDER BY 1 DESC LIMIT 1}) eq '2',
		$n->name . ': one row of mantis_stores holds both big and k');
}

# --- a lower limit holds the row back; k merged from it ---------------------
restart_all(qq{mantis.max_value_size = '1kB'\n});
for my $n (@all)
{
	is(status($n, 'held_back'), '1', $n->name . ': the large value is held back');
	is(sql($n, q{SELECT mantis_get('k')}), 'old value', $n->name . ': k is loaded from the same row');
}

# n1's standby, with the lower limit too (the backup holds its settings)
$n1->backup('b');
my $sb = PostgreSQL::Test::Cluster->new('sb');
$sb->init_from_backup($n1, 'b', has_streaming => 1);
$sb->start;
ok($sb->poll_query_until('postgres', q{SELECT persistence = 'standby' AND held_back = 1 FROM mantis_status}),
	'the standby loads the rows, holding the large value back');

# --- k is deleted; its marker is collected by acknowledgement on both -------
my %collected = map { ($_->name => status($_, 'collected_deletions')) } @all;
is(sql($n1, q{SELECT mantis_delete('k')}), 't', 'k is deleted on n1');
for my $n (@all)
{
	ok($n->poll_query_until('postgres',
		qq{SELECT collected_deletions > $collected{$n->name} AND deleted_keys = 0 FROM mantis_status}),
		$n->name . ': the marker of k is collected');
}

# --- a compaction merges the held row again (compact_rows = 1: the second
# delta row compacts) ---------------------------------------------------------
for my $n (@all)
{
	sql($n, q{SELECT mantis_set('tick.' || current_setting('mantis.node_name'), 'a')});
	sql($n, q{SELECT mantis_flush()});
	sql($n, q{SELECT mantis_set('tick.' || current_setting('mantis.node_name'), 'b')});
	sql($n, q{SELECT mantis_flush()});
}
for my $n (@all)
{
	is(sql($n, q{SELECT mantis_get('k') IS NULL}), 't',
		$n->name . ': after compactions, which merged the held row again, k stays deleted');
	is(stored_count($n, 'k'), '0', $n->name . ': and no row of mantis_stores holds k any more');
	is(stored_count($n, 'big'), '1', $n->name . ': while the large value is still there, once');
	is(status($n, 'held_back'), '1', $n->name . ': still counted held back');
}

# the standby follows n1's compaction; a restart loads the rows again
$n1->wait_for_catchup($sb, 'replay', sql($n1, q{SELECT pg_current_wal_lsn()}));
ok($sb->poll_query_until('postgres', q{SELECT mantis_get('tick.n1') = 'b'}), 'the standby follows n1');
$sb->restart;
$sb->poll_query_until('postgres', q{SELECT persistence = 'standby' FROM mantis_status})
  or die 'the standby did not load its store';
is(sql($sb, q{SELECT mantis_get('k') IS NULL}), 't', 'after a restart of the standby k stays deleted there');
is(sql($sb, q{SELECT mantis_get('kept')}), 'v1', 'and the rest is there');
is(status($sb, 'held_back'), '1', 'the standby holds the large value back still');
$sb->stop;

# --- a restart loads the held row again --------------------------------------
restart_all();
for my $n (@all)
{
	is(sql($n, q{SELECT mantis_get('k') IS NULL}), 't', $n->name . ': after a restart k stays deleted');
	is(sql($n, q{SELECT mantis_get('kept')}), 'v1', $n->name . ': and the rest is there');
	is(status($n, 'held_back'), '1', $n->name . ': the large value is held back still');
}
# what each server sends the other in its repair rounds does not bring k
# back: wait until each peer acknowledges writes made after the restart
for my $n (@all)
{
	my $t = sql($n, q{SELECT clock_timestamp()});
	$n->poll_query_until('postgres',
		qq{SELECT coalesce(max(acknowledged) > '$t'::timestamptz, false) FROM mantis_peers})
	  or die $n->name . ' was acknowledged nothing since the restart';
}
is(sql($_, q{SELECT mantis_get('k') IS NULL}), 't', $_->name . ': k stays deleted after repair rounds')
  for @all;

# --- the limit raised again: the held-back value is back ---------------------
restart_all(qq{mantis.max_value_size = '4kB'\n});
for my $n (@all)
{
	is(sql($n, q{SELECT length(mantis_get('big'))}), '3000', $n->name . ': with the limit raised big is back');
	is(status($n, 'held_back'), '0', $n->name . ': nothing is held back any more');
	is(sql($n, q{SELECT mantis_get('k') IS NULL}), 't', $n->name . ': and k stays deleted');
}

$_->stop for @all;
done_testing();
