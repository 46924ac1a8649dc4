# A connection of ours closed just after it was made must not stop
# libzmq's I/O thread for good.  (Seen in 021 under load: after the reload
# that unlisted an unreachable peer, n2's replication never connected nor
# answered a handshake again, and logged nothing of it.)  Each connection
# has a socket monitor, whose events libzmq sends from its I/O thread with
# a blocking send; a connection closed together with the reader of those
# events, while its connect() was still under way in the I/O thread, sent
# one more event (the refusal) to a reader that was gone, and the I/O thread
# waited for ever (libzmq issue 3575): every connection and handshake of
# the worker stopped.  The monitor must be stopped before the sockets are
# closed (replication/zsock.c).
#
# A reload that unlists a peer that does not answer first makes again its
# connection (every connection that does not work is made again on a
# reload), then closes it: a connection closed at once.  Here n1 lists and
# unlists an unreachable port, cycle after cycle; test/tools/slow_connect.c
# makes the I/O thread learn each refusal 100 ms late, as under load, so
# that it comes after the close.  n1 must still replicate with n2.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $cycles = 10;
# a port where nothing listens: every connect() is refused
my $dead_port = PostgreSQL::Test::Cluster::get_free_port();
my $dead = "tcp://127.0.0.1:$dead_port";
my $c = mantis_cluster(2, qq{
mantis.peer_timeout = '2s'
}, env => { LD_PRELOAD => build_slow_connect(), MANTIS_SLOW_CONNECT_PORTS => $dead_port });
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];
my $n2_endpoint = "tcp://127.0.0.1:$c->{proxy}{'1>2'}[0]";

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

# within a deadline: a key written on one server reads on the other
sub replicates
{
	my ($from, $to, $key) = @_;
	my $deadline = time() + 30;
	sql($from, qq{SELECT mantis_set('$key', 'v')});
	while (time() < $deadline)
	{
		return 1 if sql($to, qq{SELECT mantis_get('$key') IS NOT NULL}) eq 't';
		usleep(100_000);
	}
	return 0;
}

wait_peers_connected(1, $n1, $n2);
ok(replicates($n1, $n2, 'before'), 'a write on n1 reaches n2');

for my $cycle (1 .. $cycles)
{
	sql($n1, qq{ALTER SYSTEM SET mantis.peers = '$n2_endpoint,$dead'; SELECT pg_reload_conf()});
	$n1->poll_query_until('postgres', qq{SELECT count(*) = 1 FROM mantis_peers WHERE endpoint = '$dead'})
	  or die 'n1 never listed the unreachable port';
	sql($n1, qq{ALTER SYSTEM SET mantis.peers = '$n2_endpoint'; SELECT pg_reload_conf()});
	$n1->poll_query_until('postgres', qq{SELECT count(*) = 0 FROM mantis_peers WHERE endpoint = '$dead'})
	  or die 'n1 never unlisted the unreachable port';
	# the refusal of the connection just closed is learnt 100 ms late
	usleep(300_000);
}

ok(replicates($n1, $n2, 'from1'), "after $cycles cycles, a write on n1 reaches n2");
ok(replicates($n2, $n1, 'from2'), 'a write on n2 reaches n1');

$_->stop for ($n1, $n2);
done_testing();
