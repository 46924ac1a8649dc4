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

# a connection that speaks and leaves at once, whose message the worker
# reads only after it has served the connection's closing, takes no other
# connection's place: it used to use up the token of one of two silent
# admitted connections (its own dropped at its closing), leaving the count
# at 1 with 2 open, and the limit admitting one more than it allows.  The
# replication worker is stopped while the quick one speaks and leaves, so
# that both wait for it when it goes on; whether libzmq's thread has told
# the closing when the worker first looks is a race (about one time in
# three here), so eight quick ones come and go, one after the other.
ok($node->poll_query_until('postgres', 'SELECT inbound_connections = 0 FROM mantis_status'), 'nobody admitted again');
my $silent = IPC::Run::start([ $probe, '--wait', '120000', $endpoint, 'silent', '2' ]);
ok($node->poll_query_until('postgres', 'SELECT inbound_connections = 2 FROM mantis_status'),
	'two silent connections admitted');
my $worker = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'mantis replication'");
my @counts;
for my $round (1 .. 8)
{
	my $before = $node->safe_psql('postgres', 'SELECT inbound_connections FROM mantis_status');
	my $quick = IPC::Run::start([ $probe, @greeting, '--name', "quick$round", '--wait', '500', $endpoint, 'late' ],
		'>', \my $quick_out);
	$node->poll_query_until('postgres', "SELECT inbound_connections = $before + 1 FROM mantis_status")
	  or die "round $round: the quick one was not admitted";
	kill 'STOP', $worker;
	$quick->finish;			# it spoke and left while the worker stood still
	kill 'CONT', $worker;
	$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM mantis_peers WHERE node_name = 'quick$round'")
	  or die "round $round: its greeting was not read";
	$node->poll_query_until('postgres', "SELECT inbound_connections <= $before FROM mantis_status")
	  or die "round $round: its place was not given back";
	push @counts, $node->safe_psql('postgres', 'SELECT inbound_connections FROM mantis_status');
}
is("@counts", join(' ', ('2') x 8),
	'after each quick one, the two silent connections still hold their places');
$silent->kill_kill;
$node->stop;
done_testing();
