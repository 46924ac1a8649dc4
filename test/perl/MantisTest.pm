# MantisTest.pm — helpers shared by the TAP tests in test/t.
#
# Starts PostgreSQL servers with mantis preloaded (each small:
# shared_buffers = 32MB), and wraps the waits the tests need.
package MantisTest;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use Exporter 'import';
our @EXPORT = qw(mantis_node registers_dump worker_pid wait_for_worker);

# mantis_node(name, extra_conf) — a new, started server with mantis
# preloaded and the extension created in database "postgres".
sub mantis_node
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init;
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'mantis'
shared_buffers = 32MB
max_connections = 40
restart_after_crash = on
mantis.node_name = '$name'
} . ($conf // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION mantis');
	$node->poll_query_until('postgres',
		q{SELECT persistence = 'ready' FROM mantis_status})
	  or die "mantis worker of $name did not become ready";
	return $node;
}

# registers_dump(node) — every register (deletion markers too) as sorted
# "key|value|hlc|node" lines, to compare stores exactly.
sub registers_dump
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT string_agg(key || '|' || coalesce(value, '<deleted>') || '|' || hlc || '|' || node, E'\n' ORDER BY key)
		    FROM mantis_registers(true)});
}

# worker_pid(node) — the pid of the mantis worker, or '' if none runs.
sub worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'mantis worker'});
}

# wait_for_worker(node, not_pid) — wait until a worker runs whose pid is not
# not_pid; returns its pid.
sub wait_for_worker
{
	my ($node, $not_pid) = @_;
	$not_pid //= 0;
	$node->poll_query_until('postgres',
		qq{SELECT count(*) = 1 FROM pg_stat_activity
		    WHERE backend_type = 'mantis worker' AND pid <> $not_pid})
	  or die "no mantis worker came up";
	return worker_pid($node);
}

1;
