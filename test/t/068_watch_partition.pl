# The change feed across a partition (issue 21, "Tests"): a write made on a
# cut-off server reaches the others only after the heal, carrying an HLC
# older than what they wrote meanwhile; a client following n1 still gets
# it, from a cursor taken before the partition, one taken during it and
# one taken after n1's own later writes (which "the greatest HLC seen"
# would put past the late write), and a mantis_wait() begun during the
# partition returns it.  The same cursors of n1 used on n2, which got the
# write late too, return it (fail-over).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;
use MantisWatch;

my $c = mantis_cluster(3, q{
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

wait_peers_connected(2, $n1, $n2, $n3);
sql($n1, q{SELECT mantis_set('p.base', 'b')});
ok(wait_converged($n1, $n2, $n3), 'p.base everywhere');
my $before = sql($n1, 'SELECT mantis_cursor()');

# --- n3 cut off: its write stays there -----------------------------------------
isolate($c, 3);
for my $n ($n1, $n2)
{
	$n->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM mantis_peers WHERE node_name = 'n3' AND state = 'connected'})
	  or die $n->name . ' never saw n3 go';
}
sql($n3, q{SELECT mantis_set('p.late', 'from n3')});
my $during = sql($n1, 'SELECT mantis_cursor()');
my $w = start_wait($n1, qq{SELECT key, value, node FROM mantis_wait('$during', 'p.late', '120 s')});
ok(wait_sleeping($w), 'a mantis_wait on n1 for p.late sleeps');
# n1 writes after n3 did: n1's clock passes the late write's HLC
sql($n1, q{SELECT pg_sleep(0.01), mantis_set('p.n1', 'after')});
my $after = sql($n1, 'SELECT mantis_cursor()');
is(sql($n1, q{SELECT count(*) FROM mantis_registers('p.late')}), '0', 'n1 does not hold p.late yet');
is_deeply(feed($n1, $before, 'p.')->{rows}, { 'p.n1' => 'after' },
	'a client on n1 sees n1\'s write, not yet n3\'s');
ok(!wait_finished($w), 'the wait goes on');
my ($followed, $cursor) = follow($n1, $before, 'p.');

# --- the heal: repair delivers the write, older than n1's ---------------------------
rejoin($c, 3);
$n1->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mantis_registers('p.late')})
  or die 'n1 never got p.late';
ok(sql($n1, q{SELECT (SELECT hlc FROM mantis_registers('p.late')) < (SELECT hlc FROM mantis_registers('p.n1'))}) eq 't',
	'p.late carries an HLC older than n1\'s later write');

my ($out, $err) = finish_wait($w);
is($out, 'p.late|from n3|n3', 'the wait begun during the partition returns the repaired write');
is($err, '', 'and no error');

for my $case ([ 'before the partition', $before ], [ 'during the partition', $during ],
	[ "after n1's later write", $after ], [ 'the client\'s own, followed', $cursor ])
{
	my ($name, $cur) = @$case;
	my $a = feed($n1, $cur, 'p.');
	is($a->{rows}{'p.late'} // '<missing>', 'from n3', "n1, from a cursor $name: p.late returned");
	is($a->{nodes}{'p.late'} // '', 'n3', '... as n3\'s write');
}
my ($more) = follow($n1, $cursor, 'p.');
is_deeply($more, { 'p.late' => 'from n3' }, 'the client following n1 gets p.late, and nothing twice');

# --- fail-over: n1's cursors on n2, which got the write late too ----------------
$n2->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mantis_registers('p.late')})
  or die 'n2 never got p.late';
for my $case ([ 'before the partition', $before ], [ 'during the partition', $during ],
	[ "after n1's later write", $after ], [ 'the client\'s own', $cursor ])
{
	my ($name, $cur) = @$case;
	is(feed($n2, $cur, 'p.')->{rows}{'p.late'} // '<missing>', 'from n3',
		"n2, from n1's cursor $name: p.late returned");
}
# a scan answers at least once: p.base may come again, if n1 held its
# peers' writes through less than its own clock then
my $rows = feed($n2, $before, 'p.')->{rows};
delete $rows->{'p.base'};
is_deeply($rows, { 'p.n1' => 'after', 'p.late' => 'from n3' },
	'n2 from the cursor before: both writes made after it');

$_->stop for $n1, $n2, $n3;
done_testing();
