# Records (R7) across membership changes: n3 taken out of mantis.peers
# everywhere (and listing no one itself) by reloads, while n1 deletes keys
# it holds, then put back; later the same with n3 renamed (a new
# mantis.node_name, a restart).  Nothing deleted may come back on n1 or n2;
# n3 gives its old values up, and the three converge.  (n1 and n2, counting
# each other alone, may collect the deletions by acknowledgement before the
# grace makes records of them: this exercises the refusal horizon (R4) as
# much as the records.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use List::Util ();
use MantisTest;

my $c = mantis_cluster(3, q{
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
mantis.tombstone_lifetime = '1h'
mantis.max_dead_records = 1024
mantis.compact_rows = 1
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];
my %peers = map { my $n = $c->{nodes}[$_]; ($_ => $n->safe_psql('postgres', 'SHOW mantis.peers')) } 1 .. 3;

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub served
{
	my ($n, $p) = @_;
	return sql($n, qq{SELECT count(*) FROM generate_series(1, 100) i WHERE mantis_get('$p' || i) IS NOT NULL});
}

sub set_peers
{
	my ($i, $list) = @_;
	sql($c->{nodes}[$i], qq{ALTER SYSTEM SET mantis.peers = '$list'; SELECT pg_reload_conf()});
}

# the peers of n_i without n_3
sub without3
{
	my ($i) = @_;
	return join ',', grep { $_ ne "tcp://127.0.0.1:$c->{proxy}{\"$i>3\"}[0]" } split /,/, $peers{$i};
}

sub stage
{
	my ($p, $what, $rename) = @_;
	sql($n1, qq{SELECT count(mantis_set('$p' || i, 'old ' || i)) FROM generate_series(1, 100) i});
	ok(wait_converged($n1, $n2, $n3), "$what: the three hold ${p}1..${p}100");
	set_peers(1, without3(1));
	set_peers(2, without3(2));
	set_peers(3, '');
	# only a diagnostic: what follows holds whether or not the row of n3
	# (or of n3b, renamed, connecting in) has gone yet; a run once waited
	# the whole timeout twice here, 7 minutes of CI for a note
	for my $n ($n1, $n2)
	{
		my $gone;
		for (1 .. 100)
		{
			last if $gone = sql($n, q{SELECT count(*) = 0 FROM mantis_peers WHERE node_name LIKE 'n3%'}) eq 't';
			usleep(100_000);
		}
		diag($n->name . ' still lists n3 after 10 s: '
			  . sql($n, q{SELECT string_agg(node_name || ' ' || state || ' ' || coalesce(listing, '-'), ', ') FROM mantis_peers WHERE node_name LIKE 'n3%'}))
		  unless $gone;
	}
	sql($n1, qq{SELECT count(mantis_delete('$p' || i)) FROM generate_series(1, 100) i});
	$n1->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status});
	is(served($n3, $p), '100', "$what: n3, out of the cluster, still serves its old values");
	if ($rename)
	{
		$n3->append_conf('postgresql.conf', "mantis.node_name = '$rename'\n");
		$n3->restart;
		wait_loaded($n3);
	}
	set_peers(3, $peers{3});
	set_peers(1, $peers{1});
	set_peers(2, $peers{2});
	my %worst = (n1 => 0, n2 => 0);
	my $t0 = Time::HiRes::time();
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (time() < $deadline)
	{
		$worst{ $_->name } = List::Util::max($worst{ $_->name }, served($_, $p)) for ($n1, $n2);
		last if served($n3, $p) == 0;
		usleep(100_000);
	}
	note(sprintf('%s: n3 served deleted keys for %.2f s after it was put back', $what, Time::HiRes::time() - $t0));
	is(served($n3, $p), '0', "$what: n3 gives up its old values");
	is("$worst{n1} $worst{n2}", '0 0', "$what: n1 and n2 never served a deleted key");
	ok(wait_converged($n1, $n2, $n3), "$what: the three converge");
}

wait_peers_connected(2, $n1, $n2, $n3);
stage('x', 'n3 removed and put back');
stage('y', 'n3 removed, renamed n3b and put back', 'n3b');
is(sql($n3, q{SELECT node_name FROM mantis_status}), 'n3b', 'n3 is now n3b');
$_->stop for ($n1, $n2, $n3);
done_testing();
