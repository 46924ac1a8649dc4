# mantis needs three background worker slots (mantis worker, mantis watch,
# mantis replication), and PostgreSQL's logical replication launcher takes
# one before them, on 15 as on 18: with max_worker_processes = 3 the
# replication worker gets none (with 2, the watch worker neither).  The
# postmaster then logs "too many background workers" (LOG, naming no
# extension) and starts without them; mantis says nothing: mantis_status
# shows persistence "ready" and the mantis.listen endpoint, mantis_peers is
# empty, no write is replicated, and without the watch worker mantis_wait
# sleeps to its timeout past a write.  What a server must do, one or the
# other: refuse to start, or log a mantis WARNING naming
# max_worker_processes.  It refuses to start (src/mantis.c), saying so;
# single-user mode, which registers no worker, still runs.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run ();
use MantisTest;

my $zmq = PostgreSQL::Test::Cluster::get_free_port();
my $peer = PostgreSQL::Test::Cluster::get_free_port();
my $node = PostgreSQL::Test::Cluster->new('n1');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'mantis'
shared_buffers = 32MB
mantis.node_name = 'n1'
mantis.listen = 'tcp://127.0.0.1:$zmq'
mantis.peers = 'tcp://127.0.0.1:$peer'
max_worker_processes = 3
});
my $started = $node->start(fail_ok => 1);
my $log = slurp_file($node->logfile);
like($log, qr/too many background workers/, 'the postmaster had no slot for every worker');
if ($started)
{
	$node->safe_psql('postgres', 'CREATE EXTENSION mantis');
	$node->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
	  or die 'mantis never became ready';
	my $workers = $node->safe_psql('postgres',
		q{SELECT string_agg(backend_type, ', ' ORDER BY backend_type) FROM pg_stat_activity WHERE backend_type LIKE 'mantis%'});
	note("mantis processes running: $workers");
	$log = slurp_file($node->logfile);
}
ok(!$started || $log =~ /WARNING:.*mantis.*max_worker_processes/,
	'mantis refuses to start, or warns, when a worker of its own has no slot');
like($log, qr/mantis could not register its background worker "mantis replication"[^\n]*\n[^\n]*DETAIL:[^\n]*\n[^\n]*HINT:  Raise "max_worker_processes"/,
	'the log says which worker found no slot and what to raise') unless $started;
$node->stop if $started;

# single-user mode (the tool for a wraparound emergency) loads the library
# but starts no worker: it is never refused, whatever the slots
my ($out, $err) = ('', '');
my $single = IPC::Run::run(
	[ $node->config_data('--bindir') . '/postgres', '--single', '-D', $node->data_dir, 'postgres' ],
	'<', \"SELECT 40 + 2 AS answer;\n", '>', \$out, '2>', \$err);
ok($single && $out =~ /answer = "42"/, 'postgres --single runs with mantis preloaded and too few worker slots')
  or diag("stdout: $out\nstderr: $err");
done_testing();
