# mantis_peers tells the truth about a refused peer that goes away (an
# operator's review).  n2 restarts with another mantis.max_value_size, so n1
# refuses it (state 'refused', the reason in last_error), as the README says;
# then n2 stops.  A peer silent for mantis.peer_timeout is 'down' (README,
# Replication: Greetings and rejoin), but at fc19002 n1 keeps showing n2 as
# 'refused' with the old limits for as long as n2 stays away: an operator
# who looks there is sent to fix limits on a server that is not running.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $c = mantis_cluster(2, qq{
mantis.peer_timeout = '1s'
mantis.flush_interval = '100ms'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

ok($n1->poll_query_until('postgres', q{SELECT state = 'connected' FROM mantis_peers WHERE node_name = 'n2'}),
	'n1 is connected to n2');

$n2->append_conf('postgresql.conf', "mantis.max_value_size = '512kB'\n");
$n2->restart;
ok($n1->poll_query_until('postgres', q{SELECT state = 'refused' FROM mantis_peers WHERE node_name = 'n2'}),
	'n1 refuses n2, whose limits differ');

$n2->stop;
# silent for twice mantis.peer_timeout, and a greeting interval more
ok($n1->poll_query_until('postgres',
	q{SELECT clock_timestamp() - last_message > interval '3 s' FROM mantis_peers WHERE node_name = 'n2'}),
	'n2 has been silent for longer than mantis.peer_timeout');
ok($n1->poll_query_until('postgres', q{SELECT state = 'down' FROM mantis_peers WHERE node_name = 'n2'}),
	'n1 shows n2 down');

$n1->stop;
done_testing();
