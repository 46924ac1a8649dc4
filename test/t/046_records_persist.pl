# Records of dead registers (R7 of common/rules.h, issue 20) survive a
# crash restart, and a compaction of mantis_stores keeps them.
#
# n1 lists a peer that never comes, so no dead register of n1 is ever
# collected (its peer acknowledges nothing, and the lifetime is a day):
# without records, a deletion waits in full in the store.  With records
# (mantis.max_dead_records, and mantis.protocol_max 5, the default), the
# deletion of k becomes a record a few sync intervals later: it leaves the registers, and the next compaction of
# mantis_stores drops the rows that held k in full and writes the record
# in a row of its own (flags bit 0).  n1 is killed and started twice (a
# compaction in between, which must write the record it loaded), then a
# row holding k's old value is restored into mantis_stores, as from a
# backup: the record refuses it, and k stays deleted.  Without records in
# the rows, the crash restart forgets k's deletion (the rows hold neither
# its register nor its record) and the restored row brings k back.
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
mantis.tombstone_lifetime = '1d'
mantis.max_dead_records = 64
});

sub sql { my ($q) = @_; return $n1->safe_psql('postgres', $q) }

sub status { my ($col) = @_; return sql("SELECT $col FROM mantis_status") }

# registers of a key in the rows of mantis_stores
sub stored_count
{
	my ($key) = @_;
	return sql(qq{SELECT count(*) FROM mantis_stores, mantis_decode(registers) d WHERE d.key = '$key'});
}

# rows of records (the snapshot's flags byte, offset 5, bit 0)
sub record_rows
{
	return sql(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM mantis_stores
	             WHERE get_byte(registers, 5) & 1 = 1});
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

# what the log says from an offset on
sub log_since { my ($at) = @_; return slurp_file($n1->logfile, $at) }

# --- k's old value in a row, kept aside as a backup would ---------------------
sql(q{SELECT mantis_set('k', 'old value'), mantis_set('kept', 'v1')});
sql(q{SELECT mantis_flush()});
my ($row_clock, $row_hex) = split /\|/, sql(q{SELECT s.clock, encode(s.registers, 'hex')
	FROM mantis_stores s WHERE EXISTS (SELECT FROM mantis_decode(s.registers) d WHERE d.key = 'k')
	ORDER BY s.id DESC LIMIT 1});
ok(defined $row_hex && length $row_hex > 0, 'a row holds k\'s old value');

# --- k deleted: its dead register becomes a record -----------------------------
sql(q{SELECT mantis_delete('k')});
is(status('deleted_keys'), '1', 'the deletion of k waits in full');
$n1->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
  or die 'the deletion of k was never compacted';
is(sql(q{SELECT mantis_get('k') IS NULL}), 't', 'k reads deleted');
is(status('keys'), '1', 'only kept is a key: the record is off max_keys');
is(sql(q{SELECT count(*) FROM mantis_registers(true) WHERE key = 'k'}), '0',
	'no register of k is held, not even dead');

compact_and_wait();
is(stored_count('k'), '0', 'the compaction dropped every row holding k in full');
my $records = record_rows();
ok($records ne '', "a row of records was written ($records)");

# --- a crash restart loads the record; a compaction writes it again -------------
my $log_at = -s $n1->logfile;
kill_and_start($n1);
wait_loaded($n1);
like(log_since($log_at), qr/mantis loaded 1 records of dead registers/,
	'the crash restart loaded the record');
is(sql(q{SELECT mantis_get('k') IS NULL}), 't', 'k reads deleted after the restart');
compact_and_wait();
my $again = record_rows();
isnt($again, $records, "a compaction after the restart wrote the record again ($again)");

$log_at = -s $n1->logfile;
kill_and_start($n1);
wait_loaded($n1);
like(log_since($log_at), qr/mantis loaded 1 records of dead registers/,
	'the second crash restart loaded it from the compaction\'s rows');

# --- a restored row with k's old value is refused ------------------------------
$log_at = -s $n1->logfile;
sql(qq{INSERT INTO mantis_stores (clock, node, registers)
       VALUES ('$row_clock', 'restored', decode('$row_hex', 'hex'))});
sql(q{SELECT mantis_flush()});
$n1->wait_for_log(qr/mantis loaded \d+ registers from 1 rows/, $log_at);
pass('the restored row was merged');
is(sql(q{SELECT coalesce(mantis_get('k'), '<absent>')}), '<absent>',
	'k stays deleted: its record refuses the restored old value');
is(sql(q{SELECT mantis_get('kept')}), 'v1', 'kept is still read');
is(status('held_back'), '0', 'nothing is held back');

$n1->stop;
done_testing();
