# A store three quarters full flushes every 100 ms only while dead
# registers in full wait (persist/worker.c, flush_is_pressed()): a flush
# is what they wait for (a peer's acknowledgement, or their compaction
# into records, R7), and their room is what it frees.  Records and bounds
# lie off mantis.max_keys, and a flush frees nothing for them; but they
# keep collection busy for as long as they wait (a lifetime, or a
# member's outage), and a store kept three quarters full of live keys
# flushed (and read mantis_stores) ten times a second for all that time.
#
# n1 and n2 with mantis.max_keys = 1000 and mantis.flush_interval = 1h;
# n2 is stopped, n1 holds 800 live keys and one deletion, compacted into a
# record (flushed by hand) that waits an hour.  Then a write waits for the
# next flush: there must be none within 20 pressed intervals (2 s).
# (051 shows the pressed flush with expired registers in full waiting.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $c = mantis_cluster(2, q{
mantis.max_keys = 1000
mantis.flush_interval = '1h'
mantis.sync_interval = '200ms'
mantis.peer_timeout = '2s'
mantis.tombstone_lifetime = '1h'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

wait_peers_connected(1, $n1, $n2);
$n2->stop;
$n1->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM mantis_peers WHERE node_name = 'n2' AND state = 'connected'})
  or die 'n1 never saw n2 go';

sql($n1, q{SELECT count(mantis_set('k' || i, 'v')) FROM generate_series(1, 800) i});
sql($n1, q{SELECT mantis_set('gone', 'v')});
sql($n1, q{SELECT mantis_delete('gone')});
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
until (sql($n1, q{SELECT deleted_keys = 0 AND dead_records = 1 FROM mantis_status}) eq 't')
{
	die 'the deletion never became a record' if time() > $deadline;
	sql($n1, q{SELECT mantis_flush()});
	usleep(100_000);
}
sql($n1, q{SELECT mantis_flush()});
is(sql($n1, q{SELECT keys || ' ' || deleted_keys || ' ' || expired_keys FROM mantis_status}),
	'800 0 0', 'n1 holds 800 live keys (80 % of its store) and no dead register in full, a record waiting');

my $last = sql($n1, q{SELECT max(id) FROM mantis_stores});
sql($n1, q{SELECT mantis_set('probe', 'v')});
my $until = time() + 2;
my $flushed = 0;
while (time() < $until)
{
	$flushed = 1, last
	  if sql($n1, qq{SELECT count(*) FROM mantis_stores WHERE id > $last}) ne '0';
	usleep(100_000);
}
ok(!$flushed, 'no flush within 2 s: a record waiting presses no flush');

$n1->stop;
done_testing();
