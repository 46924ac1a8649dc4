# A mixed cluster: protocol 5 (hash tombstones, R7) beside a server at
# mantis.protocol_max = 4, which reads none.
#
# n1 and n2 speak 5 with each other and 4 with n3.  n3 holds d1..d40, then
# stops; n1 deletes them and sets and deletes 200 more keys: n1 and n2
# compact every deletion into a record, as they would with n3 at 5.  n3
# comes back holding its old values of d1..d40 and gets no tombstone: it
# serves them (the price of a member that reads no records) until n1's and
# n2's records are collected and their refusal horizons pass them, when n3
# adopts them away (R6).  That is soon: n3 acknowledges the writes of a
# repair round it merged, which held no register of the deletions (their
# records are no registers), so the horizon collects the records at once
# (in a run, n3 served the 40 values for about 1.5 s); at worst the
# lifetime (10 s here) does.  Throughout, n1 and n2 never serve a deleted
# key (the records refuse n3's old values, which it pushes to them), and
# in the end the three hold the same registers.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use MantisTest;
use MantisWatch;

my $c = mantis_cluster(3, q{
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
mantis.tombstone_lifetime = '10s'
mantis.max_dead_records = 1024
}, node_conf => { 3 => "mantis.protocol_max = 4\n" });
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub served
{
	my ($n) = @_;
	return sql($n, q{SELECT count(*) FROM generate_series(1, 40) i WHERE mantis_get('d' || i) IS NOT NULL});
}

sub protocols
{
	my ($n) = @_;
	return sql($n, q{SELECT string_agg(DISTINCT node_name || ':' || protocol, ' ' ORDER BY node_name || ':' || protocol)
	                   FROM mantis_peers WHERE state = 'connected'});
}

wait_peers_connected(2, $n1, $n2, $n3);
$n1->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected' AND protocol = 5 AND node_name = 'n2'
	  OR state = 'connected' AND protocol = 4 AND node_name = 'n3'})
  or diag('n1: ' . protocols($n1));
is(protocols($n1), 'n2:5 n3:4', 'n1 speaks 5 with n2 and 4 with n3');
$n3->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected' AND protocol = 4})
  or diag('n3: ' . protocols($n3));
is(protocols($n3), 'n1:4 n2:4', 'n3 speaks 4 with both');

sql($n1, q{SELECT count(mantis_set('d' || i, 'old ' || i)) FROM generate_series(1, 40) i});
ok(wait_converged($n1, $n2, $n3), 'n3 holds the 40 values');
my $n3_cursor = cursor_past_now($n3);    # a client following n3 has seen them
$n3->stop;
$n1->poll_query_until('postgres', q{SELECT state <> 'connected' FROM mantis_peers WHERE node_name = 'n3'})
  or die 'n1 never saw n3 go';

sql($n1, q{SELECT count(mantis_delete('d' || i)) FROM generate_series(1, 40) i});
sql($n1, q{SELECT count(mantis_set('e' || i, 'v')) FROM generate_series(1, 200) i});
sql($n1, q{SELECT count(mantis_delete('e' || i)) FROM generate_series(1, 200) i});
for my $n ($n1, $n2)
{
	$n->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
	  or diag($n->name . ' holds deletions in full: ' . sql($n, q{SELECT deleted_keys FROM mantis_status}));
	is(sql($n, q{SELECT deleted_keys FROM mantis_status}), '0',
		$n->name . ' compacted every deletion into a record');
}

# --- n3 comes back at 4: no tombstones; nothing comes back on n1 or n2 --------
my $log_at = -s $n3->logfile;
$n3->start;
wait_loaded($n3);
like(slurp_file($n3->logfile, $log_at), qr/mantis loaded 40 registers/,
	'n3 came back with its 40 old values');
wait_peers_connected(2, $n3);
my $worst = 0;
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
while (time() < $deadline)
{
	my $back = served($n1) + served($n2);
	$worst = $back if $back > $worst;
	last if served($n3) == 0;
	usleep(200_000);
}
is($worst, 0, 'n1 and n2 never served a deleted key while n3 came back with old values');
is(served($n3), 0, 'n3 gave up its old values once the records were collected (adoption, R6)');
# the change feed: n3 answers the cursor of its previous run by a scan,
# which must name the 40 keys adopted away (dropped long after their
# writes, below the cursor), or fail: never an answer without them
my $state = feed_sqlstate($n3, $n3_cursor, 'd');
note('n3 answering its cursor from before the stop: ' . ($state || 'answered'));
my $rows = $state eq '' ? feed($n3, $n3_cursor, 'd')->{rows} : {};
ok($state eq 'MT001' || (grep { ($rows->{"d$_"} // '') eq '<deleted>' } 1 .. 40) == 40,
	'a client following n3 learns that the 40 keys adopted away are gone (or MT001)');
ok(wait_converged($n1, $n2, $n3), 'the three hold the same registers');
is(served($n1) + served($n2) + served($n3), 0, 'and no deleted key is served anywhere');

$_->stop for ($n1, $n2, $n3);
done_testing();
