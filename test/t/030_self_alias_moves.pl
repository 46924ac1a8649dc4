# An address of mantis.peers that led to this server itself, and later
# leads to another (a virtual IP or a proxy moved back to its server): the
# link is this server no longer (a review of f807d4f).  n1 lists only an
# alias; while it forwards to n1 itself, n1 marks the link as leading to
# itself; then it forwards to n2.  n1 must count n2, which it now reaches
# and greets by that link, as a member again and collect by acknowledgement
# with it: a link once marked "itself" stayed so for the rest of the run,
# n2 not counted (members 1 on n1, 2 on n2: each says they disagree), and
# the rules that wait for every member (adoption after a round with each,
# the lifetime measured on every member's clock) passed n2 by.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $c = mantis_cluster(2, qq{
mantis.sync_interval = '500ms'
mantis.flush_interval = '100ms'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub status { my ($n) = @_; return sql($n, q{SELECT collection || ' / ' || members FROM mantis_status}) }

wait_peers_connected(1, $n1, $n2);

my $alias_port = PostgreSQL::Test::Cluster::get_free_port();
start_proxy($alias_port, $c->{zmq}[1]);
my $alias = "tcp://127.0.0.1:$alias_port";
my $log_at = -s $n1->logfile;
sql($n1, qq{ALTER SYSTEM SET mantis.peers = '$alias'; SELECT pg_reload_conf()});
ok($n1->wait_for_log(qr/is this server itself; ignoring it/, $log_at),
	'n1 recognises itself behind the alias');

# the alias moves to n2
stop_proxy($alias_port);
start_proxy($alias_port, $c->{zmq}[2]);
ok($n1->poll_query_until('postgres',
	qq{SELECT state = 'connected' FROM mantis_peers WHERE endpoint = '$alias' AND node_name = 'n2'}),
	'n1 reaches n2 by the alias');
for my $n ($n1, $n2)
{
	ok($n->poll_query_until('postgres',
		q{SELECT collection = 'by acknowledgement' AND members = 2 FROM mantis_status}),
		$n->name . ' counts both and collects by acknowledgement')
	  or diag($n->name . ': ' . status($n));
}

stop_proxy($alias_port);
$_->stop for ($n1, $n2);
done_testing();
