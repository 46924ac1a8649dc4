# A server restarted alone with a mantis.max_keys that holds its live keys
# with room to spare must hold them, and the cluster must go on collecting
# (issue 20: lowering a limit one server at a time, under a session
# workload).  Two servers: 3,000 one-second keys are written and collected
# everywhere (by acknowledgement), then 1,000 live keys; n2 restarts with
# max_keys = 2,000, twice its live keys.
#
# On main (2026-12-07): n2's rows still hold the 3,000 collected registers
# (no compaction has rewritten them), the load merges them oldest first,
# and they take 2,000 slots as expired registers while the live keys are
# held back.  n2, full, refuses n1's copies of the live keys in every repair
# round (a hole), so it acknowledges nothing of n1: nothing is collected on
# either server (mantis.tombstone_lifetime, 1 hour), n2 refuses every write
# with "store is full", and n1's dead registers pile up too.  The polls
# below time out.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $c = mantis_cluster(2, qq{
mantis.max_keys = 10000
mantis.flush_interval = '100ms'
mantis.compact_rows = 100000
mantis.peer_timeout = '2s'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];
my @all = ($n1, $n2);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

wait_loaded($_) for @all;
wait_peers_connected(1, @all);

sql($n1, q{SELECT count(mantis_set('e.' || i, 'session', interval '1 second')) FROM generate_series(1, 3000) i});
for my $n (@all)
{
	$n->poll_query_until('postgres', q{SELECT collected_expired >= 3000 FROM mantis_status})
	  or die $n->name . ' did not collect the expired keys';
}
sql($n1, q{SELECT count(mantis_set('l.' || i, 'live-' || i)) FROM generate_series(1, 1000) i});
for my $n (@all)
{
	$n->poll_query_until('postgres', q{SELECT mantis_get('l.1000') IS NOT NULL})
	  or die $n->name . ' did not receive l.*';
	sql($n, q{SELECT mantis_flush()});
}

$n2->append_conf('postgresql.conf', "mantis.max_keys = 2000\n");
$n2->restart;
wait_loaded($n2);

ok($n2->poll_query_until('postgres', q{SELECT count(*) = 1000 FROM generate_series(1, 1000) i
                                       WHERE mantis_get('l.' || i) = 'live-' || i}),
	'n2: every live key is held, with its value');
ok($n2->poll_query_until('postgres', q{SELECT held_back = 0 FROM mantis_status}),
	'n2: nothing is held back');

# the cluster goes on collecting, and n2 takes writes
my $before = sql($n1, q{SELECT collected_expired FROM mantis_status});
sql($n1, q{SELECT count(mantis_set('f.' || i, 'session', interval '1 second')) FROM generate_series(1, 500) i});
ok($n1->poll_query_until('postgres', qq{SELECT collected_expired >= $before + 500 FROM mantis_status}),
	'n1: new expired keys are collected');
is($n2->psql('postgres', q{SELECT mantis_set('n2.write', 'x')}), 0, 'n2 takes a write');

$_->stop for @all;
done_testing();
