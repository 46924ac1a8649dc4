# Physical replication: a hot standby made with pg_basebackup reads the
# registers its primary flushes, refuses writes, and at promotion takes
# over the node with a clock past everything persisted, losing nothing.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $zmq = PostgreSQL::Test::Cluster::get_free_port();
my $primary = mantis_node('p', qq{
mantis.listen = 'tcp://127.0.0.1:$zmq'
mantis.flush_interval = '200ms'
mantis.compact_rows = 3
}, init => { allows_streaming => 1 });

sub sql { my ($n, $sql) = @_; return $n->safe_psql('postgres', $sql) }

sql($primary, q{SELECT mantis_set('flag.' || i, 'v' || i) FROM generate_series(1, 100) i});
sql($primary, q{SELECT mantis_set('gone.soon', 'x')});
sql($primary, q{SELECT mantis_flush()});

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
# the standby's clock runs 10 minutes behind: only merging the rows before
# accepting writes can put its first write past the primary's
$standby->append_conf('postgresql.conf', "mantis.debug_clock_offset = '-600000'\n");
$standby->start;

ok($standby->poll_query_until('postgres', q{SELECT persistence = 'standby' FROM mantis_status}),
	'the standby loads mantis_stores and says it follows its primary');
is(sql($standby, q{SELECT count(*) FROM generate_series(1, 100) i WHERE mantis_get('flag.' || i) = 'v' || i}),
	'100', 'the standby reads every register the primary had flushed');

my ($ret, $out, $err) = $standby->psql('postgres', q{\set VERBOSITY verbose
SELECT mantis_set('on.standby', 'no')});
like($err, qr/25006: cannot execute mantis_set\(\) on a standby server/, 'a set on the standby fails with 25006');
($ret, $out, $err) = $standby->psql('postgres', q{SELECT mantis_delete('flag.1')});
like($err, qr/cannot execute mantis_delete\(\) on a standby server/, 'and so does a delete');
($ret, $out, $err) = $standby->psql('postgres', q{SELECT mantis_flush()});
isnt($ret, 0, 'mantis_flush() on the standby fails too');

# reads follow the primary's flushes, through its compactions
for my $round (1 .. 5)
{
	sql($primary, qq{SELECT mantis_set('flag.' || i, 'r$round') FROM generate_series(1, 100, 7) i});
	sql($primary, q{SELECT mantis_flush()});
}
sql($primary, q{SELECT mantis_delete('gone.soon')});
sql($primary, q{SELECT mantis_set('new.on.primary', 'hello')});
sql($primary, q{SELECT mantis_flush()});
my $lsn = sql($primary, q{SELECT pg_current_wal_lsn()});
ok($standby->poll_query_until('postgres', q{SELECT mantis_get('new.on.primary') = 'hello'}),
	"the standby reads a value within a flush of the primary's");
ok($standby->poll_query_until('postgres', q{SELECT mantis_get('gone.soon') IS NULL}),
	'and a delete');
$primary->wait_for_catchup($standby, 'replay', $lsn);
$standby->poll_query_until('postgres', q{SELECT mantis_get('flag.99') = 'r5'}) or die 'standby behind';
is(registers_dump($standby), registers_dump($primary),
	"the standby holds exactly the primary's registers, compactions of its rows and all");
my $max_hlc = sql($primary, q{SELECT max(hlc) FROM mantis_registers(true)});

# --- failover: the primary dies, the standby is promoted --------------------
ok(!$standby->log_contains(qr/mantis replication listening/),
	'the standby does not replicate over ZeroMQ (it follows its primary)');
$primary->stop('immediate');
my $promoted_at = -s $standby->logfile;
$standby->promote;
ok($standby->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status}),
	'once promoted the server persists as a primary');
is(sql($standby, q{SET mantis.transactional = off; SELECT mantis_set('flag.1', 'after failover') > } . "'$max_hlc'"), 't',
	'a write on the promoted server takes an HLC past everything the old primary persisted');
is(sql($standby, q{SELECT mantis_get('flag.1')}), 'after failover', 'and wins');
is(sql($standby, q{SELECT node_name FROM mantis_status}), 'p', 'the promoted server is node p');
ok($standby->wait_for_log(qr/mantis replication listening on tcp:\/\/127\.0\.0\.1:$zmq as node "p"/, $promoted_at),
	'its replication worker listens once it is promoted');
sql($standby, q{SELECT mantis_set('written.after', 'yes')});
for (1 .. 4) { sql($standby, q{SELECT mantis_set('churn', 'c')}); sql($standby, q{SELECT mantis_flush()}); }
my $before = registers_dump($standby);
$standby->restart;
is(registers_dump($standby), $before,
	'after compactions and a restart of the promoted server every register is there');
is(sql($standby, q{SELECT mantis_get('flag.1') || ' ' || mantis_get('written.after') || ' ' || mantis_get('new.on.primary')}),
	'after failover yes hello', 'old and new values alike');
$standby->stop;

done_testing();
