# A server renamed (mantis.node_name changed) keeps nothing of its old name
# in mantis_stores once it has compacted: every row it has merged is
# deleted by the compaction that covers it, whatever node name wrote it.
# Otherwise the rows under the old name stay for ever, and a key deleted
# after the rename (its marker collected) comes back at the next restart,
# when loading merges those rows again.  Rows it could not merge (held
# back) stay, as always.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

# no peers: a flushed deletion marker is collected at the next sweep
my $node = mantis_node('before', qq{
mantis.max_value_size = '4kB'
});

sub sql { my ($sql) = @_; return $node->safe_psql('postgres', $sql) }

# two rows under the first name: one with a large value, one with the rest
sql(q{SELECT mantis_set('big', repeat('b', 3000))});
sql(q{SELECT mantis_flush()});
sql(q{SELECT mantis_set('kept', 'v1'), mantis_set('gone', 'old value')});
sql(q{SELECT mantis_flush()});
is(sql(q{SELECT count(*) FROM mantis_stores WHERE node = 'before'}), '2',
	'two rows are written under the first name');

# rename; a lower mantis.max_value_size holds the large value back (its row
# stays), and every flush is now a compaction
$node->append_conf('postgresql.conf', qq{
mantis.node_name = 'after'
mantis.max_value_size = '1kB'
mantis.compact_rows = 1
});
$node->restart;
$node->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
  or die 'the worker did not become ready';
is(sql(q{SELECT node_name FROM mantis_status}), 'after', 'the server now calls itself after');
is(sql(q{SELECT mantis_get('gone')}), 'old value', 'the rows of the old name were loaded');
is(sql(q{SELECT held_back FROM mantis_status}), '1',
	'the value larger than the new mantis.max_value_size is held back');

# delete under the new name, and wait for the marker to be collected
my $collected = sql(q{SELECT collected_deletions FROM mantis_status});
is(sql(q{SELECT mantis_delete('gone')}), 't', 'gone is deleted');
sql(q{SELECT mantis_flush()});
ok($node->poll_query_until('postgres',
	qq{SELECT collected_deletions > $collected AND deleted_keys = 0 FROM mantis_status}),
	'its marker is flushed, then collected');

# a compaction after the collection covers every merged row
sql(q{SELECT mantis_set('kept', 'v2')});
sql(q{SELECT mantis_flush()});
is(sql(q{SELECT count(*) FROM mantis_stores, mantis_decode(registers) d WHERE d.key = 'gone'}), '0',
	'no row of mantis_stores holds the deleted key any more, under either name');
is(sql(q{SELECT count(*) FROM mantis_stores WHERE node = 'before'}), '1',
	'the one row left under the old name is the one holding a register back');

$node->restart;
$node->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
  or die 'the worker did not become ready';
is(sql(q{SELECT mantis_get('gone') IS NULL}), 't',
	'after a restart the key deleted after the rename stays deleted');
is(sql(q{SELECT mantis_get('kept')}), 'v2', 'and the rest is there');

# with the limit raised, the held-back value is back, and its row goes at
# the next compaction
$node->append_conf('postgresql.conf', qq{mantis.max_value_size = '4kB'});
$node->restart;
$node->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
  or die 'the worker did not become ready';
is(sql(q{SELECT length(mantis_get('big'))}), '3000', 'with the limit raised the large value is back');
sql(q{SELECT mantis_set('kept', 'v3')});
sql(q{SELECT mantis_flush()});
is(sql(q{SELECT count(*) FROM mantis_stores WHERE node = 'before'}), '0',
	'and once merged, its row under the old name goes at the next compaction');
is(sql(q{SELECT length(mantis_get('big')) FROM (SELECT 1) x}), '3000', 'the value itself stays');

$node->stop;
done_testing();
