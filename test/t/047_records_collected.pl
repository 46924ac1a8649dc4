# Records of dead registers (R7 of common/rules.h, issue 20) are collected
# as the dead registers they stand for (R3), raising the refusal horizon
# (R4): here by the lifetime, since n1's one peer never comes.
#
# n1 compacts the deletion of k into a record (mantis.max_dead_records) a
# few sync intervals after it; a compaction of mantis_stores writes the
# record in a row of its own.  Once the lifetime has passed (it collects a
# lifetime after a lifetime of no peer coming: R3's wait after a start),
# the record is collected: the refusal horizon rises to k's deletion, and
# the next compaction writes no row of records.  Without the collection of
# records, the horizon never rises and every compaction writes the record
# again.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $listen = PostgreSQL::Test::Cluster::get_free_port();
my $absent = PostgreSQL::Test::Cluster::get_free_port();
my $n1 = mantis_node('n1', qq{
mantis.listen = 'tcp://127.0.0.1:$listen'
mantis.peers = 'tcp://127.0.0.1:$absent'
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.compact_rows = 1
mantis.tombstone_lifetime = '8s'
mantis.max_dead_records = 64
});

sub sql { my ($q) = @_; return $n1->safe_psql('postgres', $q) }

# rows of records (the snapshot's flags byte, offset 5, bit 0)
sub record_rows
{
	return sql(q{SELECT count(*) FROM mantis_stores WHERE get_byte(registers, 5) & 1 = 1});
}

# a compaction: with compact_rows = 1, the flush after a write compacts,
# and deletes every row before it
sub compact_and_wait
{
	my $before = sql(q{SELECT max(id) FROM mantis_stores});
	sql(q{SELECT mantis_set('tick', clock_timestamp()::text)});
	sql(q{SELECT mantis_flush()});
	$n1->poll_query_until('postgres', qq{SELECT min(id) > $before FROM mantis_stores})
	  or die 'no compaction';
}

sql(q{SELECT mantis_set('k', 'v')});
my $deleted_at = sql(q{SELECT clock_timestamp() - interval '5 ms'});
sql(q{SELECT mantis_delete('k')});
$n1->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
  or die 'the deletion of k was never compacted';
compact_and_wait();
is(record_rows(), '1', 'a compaction wrote k\'s record');
is(sql(q{SELECT refusal_horizon IS NULL FROM mantis_status}), 't',
	'nothing collected yet: no refusal horizon');

# the lifetime collects the record
$n1->poll_query_until('postgres',
	qq{SELECT refusal_horizon IS NOT NULL AND refusal_horizon >= '$deleted_at'::timestamptz
	     FROM mantis_status})
  or diag('the refusal horizon never reached the deletion of k');
ok(sql(qq{SELECT refusal_horizon >= '$deleted_at'::timestamptz FROM mantis_status}) eq 't',
	'the record was collected: the refusal horizon reached the deletion of k');
compact_and_wait();
is(record_rows(), '0', 'the next compaction writes no record');
is(sql(q{SELECT coalesce(mantis_get('k'), '<absent>')}), '<absent>', 'k stays deleted');

$n1->stop;
done_testing();
