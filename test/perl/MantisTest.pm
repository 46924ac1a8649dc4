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
our @EXPORT = qw(mantis_node);

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
mantis.node_name = '$name'
} . ($conf // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION mantis');
	return $node;
}

1;
