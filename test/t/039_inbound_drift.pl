# The count of admitted inbound connections (mantis.max_inbound_connections,
# replication/gate.c, kept by replication/inbound.c; issue 20) must follow
# connections that come and go while strangers hold connections in their
# handshake: a stranger who opens TCP connections and never finishes a ZMTP
# handshake must not, together with peers that reconnect, lock every peer
# out.  And a connection refused for the limit is tried again by libzmq
# (the server drops it at its 5-s handshake limit, the client connects
# again): once there is room, it is admitted without a restart.
use strict;
use warnings;

use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $probe = build_probe();
my $zmq = PostgreSQL::Test::Cluster::get_free_port();
my $node = mantis_node('drift', qq{
mantis.listen = 'tcp://127.0.0.1:$zmq'
mantis.max_inbound_connections = 3
});
my @greeting = ('--encoding', $node->safe_psql('postgres', 'SHOW server_encoding'));
my $endpoint = "tcp://127.0.0.1:$zmq";

# strangers: TCP connections that never send a byte (each stays in its
# handshake for up to 5 s, ZMQ_HANDSHAKE_IVL); fresh ones before every
# round keep some open throughout
my @strangers;
sub strangers
{
	for (1 .. 3)
	{
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $zmq, Proto => 'tcp')
		  or die "connect: $!";
		push @strangers, $s;
	}
}

# a peer that comes and goes four times: one connection each time, well
# within the limit of 3
for my $round (1 .. 4)
{
	strangers();
	my $out = '';
	IPC::Run::run([ $probe, @greeting, '--wait', '300', $endpoint, 'hold', '1' ], '>', \$out);
	like($out, qr/answered 1 /, "round $round: the only peer's connection is answered");
}
is($node->safe_psql('postgres', 'SELECT refused_over_limit FROM mantis_status'), '0',
	'no connection was refused for the limit');
close $_ for @strangers;

# the limit full: a latecomer is refused, then admitted on its own once
# the others leave
ok($node->poll_query_until('postgres', 'SELECT inbound_connections = 0 FROM mantis_status'), 'nobody admitted');
my ($full, $late) = ('', '');
my $h1 = IPC::Run::start([ $probe, @greeting, '--wait', '2000', $endpoint, 'hold', '3' ], '>', \$full);
ok($node->poll_query_until('postgres', 'SELECT inbound_connections = 3 FROM mantis_status'), 'the limit is full');
my $h2 = IPC::Run::start([ $probe, @greeting, '--wait', '15000', $endpoint, 'hold', '1' ], '>', \$late);
ok($node->poll_query_until('postgres', 'SELECT refused_over_limit >= 1 FROM mantis_status'), 'a latecomer is refused');
$h1->finish;
$h2->finish;
like($late, qr/answered 1 /, 'and admitted once there is room, without a restart');
$node->stop;
done_testing();
