# A hot standby following its primary's rows takes them as its history
# (R7 of src/common/rules.h, persist/load.c's load_fresh()): no bound of
# the rows refuses a live register of the rows.  The primary's keys, live
# in a flush's row, lie below the bound their leaf got later from the
# collapse of records of other keys; a standby that had not yet merged the
# keys' row when it merged the bound's (one follow merging both) took the
# bound as refusing them, as it would a peer's older copy, and lost them,
# though every one is live on the primary: the standby, once promoted,
# served them as absent.  (Before, only a store that held nothing trusted
# the rows; the standby held its first load.)
#
# n1 (streaming) and n2 are members; n2 is stopped, so n1's deletions
# become records under a budget of 128 and collapse into their leaves'
# bounds.  A standby of n1 loads n1's rows, then follows no more until
# n1 has written 5,000 live keys and collapsed 1,000 deletions made after
# them; then it follows once, and must read every live key.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $c = mantis_cluster(2, q{
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
mantis.tombstone_lifetime = '1h'
mantis.max_dead_records = 128
}, init => { allows_streaming => 1 });
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

wait_peers_connected(1, $n1, $n2);
sql($n1, q{SELECT mantis_set('before.backup', 'x')});
sql($n1, q{SELECT mantis_flush()});

$n1->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($n1, 'b', has_streaming => 1);
# it follows the table at start, and then only when told to (below)
$standby->append_conf('postgresql.conf', "mantis.flush_interval = '1h'\n");
$standby->start;
$standby->poll_query_until('postgres', q{SELECT persistence = 'standby' FROM mantis_status})
  or die 'the standby did not load';
is(sql($standby, q{SELECT mantis_get('before.backup')}), 'x', 'the standby holds its first load');

$n2->stop;
$n1->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM mantis_peers WHERE node_name = 'n2' AND state = 'connected'})
  or die 'n1 never saw n2 go';

sql($n1, q{SELECT count(mantis_set('live' || i, 'v' || i)) FROM generate_series(1, 5000) i});
sql($n1, q{SELECT mantis_flush()});
sql($n1, q{SELECT count(mantis_set('gone' || i, 'v' || i)) FROM generate_series(1, 1000) i});
sql($n1, q{SELECT count(mantis_delete('gone' || i)) FROM generate_series(1, 1000) i});
$n1->poll_query_until('postgres',
	q{SELECT deleted_keys = 0 AND leaves_with_bound > 500 FROM mantis_status})
  or diag('n1: ' . sql($n1, q{SELECT deleted_keys || ' ' || dead_records || ' ' || leaves_with_bound FROM mantis_status}));
sql($n1, q{SELECT mantis_set('marker', 'last')});
sql($n1, q{SELECT mantis_flush()});
my $bounds = sql($n1, q{SELECT leaves_with_bound FROM mantis_status});
note("n1 holds $bounds leaves' bounds");
$n1->wait_for_catchup($standby, 'replay', sql($n1, q{SELECT pg_current_wal_lsn()}));

# one follow merges the keys' row and the bounds' rows
$standby->append_conf('postgresql.conf', "mantis.flush_interval = '100ms'\n");
$standby->reload;
ok($standby->poll_query_until('postgres', q{SELECT mantis_get('marker') = 'last'}),
	"the standby follows its primary's rows");
is(sql($standby, q{SELECT count(*) FROM generate_series(1, 5000) i WHERE mantis_get('live' || i) = 'v' || i}),
	'5000', 'the standby reads every key live on its primary, bounds above them or not');
is(sql($standby, q{SELECT count(*) FROM generate_series(1, 1000) i WHERE mantis_get('gone' || i) IS NOT NULL}),
	'0', 'and none it deleted');
is(sql($standby, q{SELECT leaves_with_bound FROM mantis_status}), $bounds, "and its leaves' bounds");

$standby->stop;
$n1->stop;
done_testing();
