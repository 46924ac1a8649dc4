# Garbage never hurts: raw bytes and ZeroMQ messages of every socket type,
# empty, tiny, huge and malformed, multi-part, with every header field
# wrong, out of order and replayed, sent to a running server's replication
# endpoint, with and without CURVE.  The server keeps its postmaster and
# worker processes, counts what it rejects, logs it at a bounded rate, does
# not grow, and an honest peer still replicates afterwards.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $probe = build_probe();

sub pids
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT string_agg(backend_type || ':' || pid, ',' ORDER BY backend_type)
		    FROM pg_stat_activity WHERE backend_type LIKE 'mantis%'});
}

sub rss_kb
{
	my ($pid) = @_;
	my ($kb) = slurp_file("/proc/$pid/status") =~ /VmRSS:\s+(\d+)/;
	return $kb;
}

for my $curve (0, 1)
{
	my $label = $curve ? 'with CURVE' : 'without CURVE';
	my $c = mantis_cluster(2, qq{
mantis.sync_interval = '1s'
mantis.peer_timeout = '2s'
}, curve => $curve, prefix => $curve ? 'c' : 'p');
	my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];
	my $endpoint = "tcp://127.0.0.1:$c->{zmq}[1]";
	$n1->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM mantis_peers WHERE state = 'connected'}) or die;

	my $postmaster = $n1->{_pid};
	my $before = pids($n1);
	my ($replicator) = $before =~ /mantis replication:(\d+)/;
	my $rss0 = rss_kb($replicator);

	for my $seed (1 .. 3)
	{
		system($probe, '--seed', $seed, $endpoint, 'raw') == 0 or die;
		system($probe, '--seed', $seed, '--name', "junk$seed", $endpoint, 'junk') == 0 or die;
	}
	# the same, speaking CURVE with a stranger's key
	system($probe, '--server-key', $c->{keys}[1], $endpoint, 'junk') == 0 or die if $curve;

	# the server is alive, with the same processes
	is($n1->safe_psql('postgres', 'SELECT 1'), '1', "$label: the server answers after the junk");
	is($n1->{_pid}, $postmaster, "$label: the postmaster is the same process");
	is(pids($n1), $before, "$label: so are both mantis workers (no crash, no restart)");

	# every reject was counted
	if ($curve)
	{
		ok($n1->poll_query_until('postgres',
			q{SELECT refused_connections::int >= 6 FROM mantis_status}),
			"$label: the junk clients were refused at their handshake and counted");
		is($n1->safe_psql('postgres',
			q{SELECT count(*) FROM mantis_peers WHERE node_name LIKE 'junk%'}), '0',
			"$label: none of them got far enough to be a peer");
	}
	else
	{
		ok($n1->poll_query_until('postgres',
			q{SELECT coalesce(sum(rejected_malformed::int), 0) + max(rejected_unknown::int) > 100
			    FROM mantis_peers, mantis_status}),
			"$label: the malformed messages were counted");
		ok($n1->poll_query_until('postgres',
			q{SELECT refused_connections::int > 0 FROM mantis_status}),
			"$label: raw bytes failed the handshake and were counted");
		my $counted = $n1->safe_psql('postgres',
			q{SELECT coalesce(sum(rejected_malformed::int), 0) + max(rejected_unknown::int)
			    FROM mantis_peers, mantis_status});
		note("$label: $counted malformed messages counted");
	}
	my $log_lines = () = slurp_file($n1->logfile) =~ /mantis: (dropped|refused)/g;
	cmp_ok($log_lines, '<', 60, "$label: rejects were logged at a bounded rate ($log_lines lines)");
	my $grown = rss_kb($replicator) - $rss0;
	cmp_ok($grown, '<', 64 * 1024, "$label: the replication worker grew by $grown kB, less than 64 MB");

	# an honest peer still replicates, both ways
	$n1->safe_psql('postgres', q{SELECT mantis_set('after.junk', 'n1')});
	ok($n2->poll_query_until('postgres', q{SELECT mantis_get('after.junk') = 'n1'}),
		"$label: n2 still receives n1's sets");
	$n2->safe_psql('postgres', q{SELECT mantis_set('after.junk.2', 'n2')});
	ok($n1->poll_query_until('postgres', q{SELECT mantis_get('after.junk.2') = 'n2'}),
		"$label: and n1 n2's");
	ok(wait_converged($n1, $n2), "$label: the two converge");
	unlike(slurp_file($n1->logfile), qr/PANIC|terminated by signal/, "$label: no crash in the log");
	$_->stop for ($n1, $n2);
}

done_testing();
