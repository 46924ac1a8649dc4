# Records (R7) while one server is upgraded and rolled back: n3 first runs
# with mantis.max_dead_records = 0 (it speaks protocol 4 at most) among n1
# and n2 at 5; it is then restarted with records (it speaks 5), and later
# set to mantis.protocol_max = 3 by a reload (as before a rollback to a
# release older than 1.4).  At each stage n3 is away while n1 deletes keys
# it holds, and comes back with its old values: nothing deleted may come
# back on n1 or n2, n3 must give its old values up, and the three converge.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use MantisTest;

my $c = mantis_cluster(3, q{
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
mantis.tombstone_lifetime = '10s'
mantis.max_dead_records = 1024
mantis.compact_rows = 1
}, node_conf => { 3 => "mantis.max_dead_records = 0\n" });
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub served
{
	my ($n, $p) = @_;
	return sql($n, qq{SELECT count(*) FROM generate_series(1, 100) i WHERE mantis_get('$p' || i) IS NOT NULL});
}

sub protocols
{
	my ($n) = @_;
	return sql($n, q{SELECT string_agg(node_name || ':' || protocol, ' ' ORDER BY node_name)
	                   FROM mantis_peers WHERE state = 'connected'});
}

sub status
{
	my ($n) = @_;
	return sql($n, q{SELECT format('keys %s deleted %s held_back %s refusal %s collection %s',
	  keys, deleted_keys, held_back, refusal_horizon, collection) FROM mantis_status});
}

# one stage: n3 holds p1..p100, goes away, n1 deletes them, n3 comes back
sub stage
{
	my ($p, $what, $restart_conf) = @_;
	sql($n1, qq{SELECT count(mantis_set('$p' || i, 'old ' || i)) FROM generate_series(1, 100) i});
	ok(wait_converged($n1, $n2, $n3), "$what: the three hold ${p}1..${p}100");
	$n3->stop;
	$n1->poll_query_until('postgres', q{SELECT state <> 'connected' FROM mantis_peers WHERE node_name = 'n3'})
	  or die 'n1 never saw n3 go';
	sql($n1, qq{SELECT count(mantis_delete('$p' || i)) FROM generate_series(1, 100) i});
	for my $n ($n1, $n2)
	{
		# the deletions reached it, and left its registers for records
		$n->poll_query_until('postgres', qq{SELECT deleted_keys = 0 FROM mantis_status}
		  . qq{ WHERE NOT EXISTS (SELECT FROM generate_series(1, 100) i WHERE mantis_get('$p' || i) IS NOT NULL)})
		  or diag($n->name . ': ' . status($n));
	}
	$n3->append_conf('postgresql.conf', $restart_conf) if $restart_conf;
	$n3->start;
	wait_loaded($n3);
	my %worst = (n1 => 0, n2 => 0);
	my $t0 = Time::HiRes::time();
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (time() < $deadline)
	{
		$worst{ $_->name } = List::Util::max($worst{ $_->name }, served($_, $p)) for ($n1, $n2);
		last if served($n3, $p) == 0;
		usleep(100_000);
	}
	note(sprintf('%s: n3 served deleted keys for %.2f s; n3 speaks %s', $what,
		Time::HiRes::time() - $t0, protocols($n3)));
	is(served($n3, $p), '0', "$what: n3 gives up its old values");
	is("$worst{n1} $worst{n2}", '0 0', "$what: n1 and n2 never served a deleted key (most at once on each)");
	ok(wait_converged($n1, $n2, $n3), "$what: the three converge");
}
use List::Util ();

wait_peers_connected(2, $n1, $n2, $n3);
stage('x', 'n3 without records');
stage('y', 'n3 restarted with records', "mantis.max_dead_records = 1024\n");
$n3->poll_query_until('postgres', q{SELECT bool_and(protocol = 5) FROM mantis_peers WHERE state = 'connected'})
  or diag('n3: ' . protocols($n3));
is(protocols($n3), 'n1:5 n2:5', 'n3 with records speaks 5');
sql($n3, q{ALTER SYSTEM SET mantis.protocol_max = 3; SELECT pg_reload_conf()});
$n3->poll_query_until('postgres', q{SELECT bool_and(protocol = 3) FROM mantis_peers WHERE state = 'connected'})
  or diag('n3: ' . protocols($n3));
stage('z', 'n3 at protocol 3');
$_->stop for ($n1, $n2, $n3);
done_testing();
