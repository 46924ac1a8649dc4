# Closed by default (issue 20):
#  - without CURVE, a server whose mantis.listen is not provably loopback
#    (a wildcard, 0.0.0.0, its own address, a host name, localhost
#    included, which libzmq cannot bind, an interface name)
#    refuses to start and says why and how to fix it; it starts on loopback
#    (and its replication listens there), with mantis.insecure_network = on
#    (warning), or with CURVE;
#  - on IPv6 loopback (tcp://[::1]:PORT), two servers listen and dial each
#    other, and a value written on either reaches the other (skipped if
#    this machine has no ::1);
#  - mantis.max_inbound_connections: connections past it are refused at
#    their handshake and counted (mantis_status.inbound_connections,
#    refused_over_limit), and their room comes back when they go; a reload
#    changes it;
#  - with CURVE on 0.0.0.0, an unknown client on the machine's non-loopback
#    address gets nothing: no answer without a key or with an unknown key
#    (the refusal counted), while the same probe with an allowed key is
#    answered.
use strict;
use warnings;

use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $probe = build_probe();

sub status { $_[0]->safe_psql('postgres', "SELECT $_[1] FROM mantis_status") }

# this machine's own non-loopback address (the one it would use to reach
# the documentation network), or none
my $udp = IO::Socket::INET->new(PeerAddr => '192.0.2.1', PeerPort => 9, Proto => 'udp');
my $own = $udp ? $udp->sockhost : undef;
$own = undef if defined $own && ($own =~ /^127\./ || $own eq '0.0.0.0');

# --- without CURVE: only loopback, unless the network is declared trusted ----
my $port = PostgreSQL::Test::Cluster::get_free_port();
my @open = ("tcp://*:$port", "tcp://0.0.0.0:$port", "tcp://127.1:$port",
	"tcp://db1.example.com:$port", "tcp://eth0:$port", "tcp://localhost:$port");
push @open, "tcp://$own:$port" if defined $own;
my $i = 0;
for my $listen (@open)
{
	my $node = PostgreSQL::Test::Cluster->new('open' . ++$i);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'mantis'
shared_buffers = 32MB
mantis.listen = '$listen'
});
	ok(!$node->start(fail_ok => 1), "without CURVE, listening on $listen refuses to start");
	my $log = slurp_file($node->logfile);
	like($log, qr/FATAL:  mantis replication would listen on "\Q$listen\E", which is not a loopback address, without CURVE/,
		'and says why');
	if ($i == 1)
	{
		like($log, qr/DETAIL:  Anyone who can reach it could read and write the whole store/, 'what is at stake');
		like($log, qr/HINT:  Set "mantis.curve_secret_key_file" and "mantis.curve_peers_file" .*"mantis.insecure_network = on"/,
			'and both ways out: CURVE, or declaring the network trusted');
		# the same server, declared on a trusted network, starts and warns
		$node->append_conf('postgresql.conf', "mantis.insecure_network = on\n");
		ok($node->start(fail_ok => 1), 'with mantis.insecure_network = on it starts');
		ok($node->wait_for_log(qr/not a loopback address, without authentication or encryption/),
			'and warns that anyone who reaches it can read and write the store');
		$node->stop;
	}
}
for my $listen ("tcp://127.0.0.2:$port", "ipc://$PostgreSQL::Test::Utils::tmp_check/clsd.$port")
{
	my $node = PostgreSQL::Test::Cluster->new('loop' . ++$i);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'mantis'
shared_buffers = 32MB
mantis.listen = '$listen'
});
	ok($node->start(fail_ok => 1), "without CURVE, listening on loopback ($listen) starts");
	my $replication = $node->wait_for_log(qr/mantis replication listening on \Q$listen\E|mantis could not listen/);
	ok($replication && slurp_file($node->logfile) =~ /mantis replication listening on \Q$listen\E/,
		'and its replication listens there');
	$node->stop;
}

# --- IPv6 loopback: listened on, dialled, replicating ------------------------
SKIP:
{
	my $lo = `ip -6 addr show lo 2>/dev/null` // '';
	skip 'this machine has no IPv6 loopback (ip -6 addr show lo gives no ::1)', 5
	  unless $lo =~ m{inet6 ::1/};
	my @v6port = map { PostgreSQL::Test::Cluster::get_free_port() } 1 .. 2;
	my @v6 = map {
		my ($me, $other) = ($_, 1 - $_);
		mantis_node('six' . ($me + 1), qq{
mantis.listen = 'tcp://[::1]:$v6port[$me]'
mantis.peers = 'tcp://[::1]:$v6port[$other]'
});
	} 0 .. 1;
	$v6[0]->wait_for_log(qr/mantis replication listening on|mantis could not listen/);
	ok($v6[0]->log_contains(qr/mantis replication listening on \Qtcp:\/\/[::1]:$v6port[0]\E/),
		'without CURVE, a server listens on tcp://[::1]');
	ok($v6[0]->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM mantis_peers WHERE node_name = 'six2' AND state = 'connected'}),
		'it reaches its peer on tcp://[::1]');
	ok($v6[1]->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM mantis_peers WHERE node_name = 'six1' AND state = 'connected'}),
		'and its peer reaches it');
	$v6[1]->safe_psql('postgres', q{SELECT mantis_set('six.from2', 'over ::1')});
	ok($v6[0]->poll_query_until('postgres', q{SELECT mantis_get('six.from2') = 'over ::1'}),
		'a value written on one reaches the other over IPv6');
	$v6[0]->safe_psql('postgres', q{SELECT mantis_set('six.from1', 'back')});
	ok($v6[1]->poll_query_until('postgres', q{SELECT mantis_get('six.from1') = 'back'}),
		'and back');
	$_->stop for @v6;
}

# --- the inbound cap ---------------------------------------------------------
my $zmq = PostgreSQL::Test::Cluster::get_free_port();
my $capped = mantis_node('capped', qq{
mantis.listen = 'tcp://127.0.0.1:$zmq'
mantis.max_inbound_connections = 3
});
my @greeting = ('--encoding', $capped->safe_psql('postgres', 'SHOW server_encoding'));
my $endpoint = "tcp://127.0.0.1:$zmq";
is(status($capped, 'inbound_connections'), '0', 'no connection yet');

my ($out, $err) = ('', '');
my $h = IPC::Run::start([ $probe, @greeting, '--wait', '6000', $endpoint, 'hold', '5' ],
	'>', \$out, '2>', \$err);
ok($capped->poll_query_until('postgres',
	q{SELECT inbound_connections = 3 AND refused_over_limit >= 2 FROM mantis_status}),
	'5 connections at once with a cap of 3: 3 open, the others refused and counted');
ok($capped->poll_query_until('postgres',
	q{SELECT count(*) = 3 FROM mantis_peers WHERE direction = 'inbound'}),
	'3 peers greeted it');
$h->finish;
like($out, qr/answered 3 /, 'the probe got answers on 3 connections only');
ok($capped->log_contains(qr/3 connections are admitted, the limit of "mantis.max_inbound_connections" \(3\)/), 'the refusal is logged');
ok($capped->poll_query_until('postgres', q{SELECT inbound_connections = 0 FROM mantis_status}),
	'once the probe is gone, no connection is counted');
my $over = status($capped, 'refused_over_limit');
note('refused_over_limit ' . $over . ', refused_connections ' . status($capped, 'refused_connections'));
cmp_ok(status($capped, 'refused_connections'), '>=', $over, 'refusals past the limit count among refused_connections');
$out = '';
IPC::Run::run([ $probe, @greeting, '--wait', '1500', $endpoint, 'hold', '3' ], '>', \$out);
like($out, qr/answered 3 /, 'their room is back: 3 new connections are answered');
is(status($capped, 'refused_over_limit'), $over, 'and none refused');

$capped->safe_psql('postgres', q{ALTER SYSTEM SET mantis.max_inbound_connections = 6; SELECT pg_reload_conf()});
$capped->poll_query_until('postgres', q{SELECT current_setting('mantis.max_inbound_connections') = '6'});
ok($capped->poll_query_until('postgres', q{SELECT inbound_connections = 0 FROM mantis_status}), 'all gone again');
$out = '';
IPC::Run::run([ $probe, @greeting, '--wait', '1500', $endpoint, 'hold', '5' ], '>', \$out);
like($out, qr/answered 5 /, 'a reload raises the limit: 5 connections answered');
$capped->stop;

# --- CURVE on 0.0.0.0: an unknown client gets nothing --------------------------
SKIP:
{
	skip 'this machine has no non-loopback IPv4 address', 9 unless defined $own;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my $server_key = keygen('closed', "$dir/closed.key");
	my $friend_key = keygen('friend', "$dir/friend.key");
	open my $f, '>', "$dir/peers" or die;
	print $f "friend $friend_key\n";
	close $f;
	my $czmq = PostgreSQL::Test::Cluster::get_free_port();
	my $closed = mantis_node('closed', qq{
mantis.listen = 'tcp://0.0.0.0:$czmq'
mantis.curve_secret_key_file = '$dir/closed.key'
mantis.curve_peers_file = '$dir/peers'
});
	ok($closed->log_contains(qr/listening on tcp:\/\/0\.0\.0\.0:$czmq as node "closed" with CURVE/),
		'with CURVE it listens on 0.0.0.0');
	my $remote = "tcp://$own:$czmq";

	my $refused0 = status($closed, 'refused_connections');
	$out = '';
	IPC::Run::run([ $probe, @greeting, '--wait', '1500', $remote, 'hold', '1' ], '>', \$out);
	like($out, qr/answered 0 received 0$/m, "a client without a key at $own gets nothing");
	ok($closed->poll_query_until('postgres', qq{SELECT refused_connections > $refused0 FROM mantis_status}),
		'its refusal is counted');

	$refused0 = status($closed, 'refused_connections');
	$out = '';
	IPC::Run::run([ $probe, @greeting, '--server-key', $server_key, '--wait', '1500', $remote, 'hold', '1' ],
		'>', \$out);
	like($out, qr/answered 0 received 0$/m, 'a client with an unknown key gets nothing');
	ok($closed->poll_query_until('postgres', qq{SELECT refused_connections > $refused0 FROM mantis_status}),
		'its refusal is counted');
	IPC::Run::run([ $probe, @greeting, '--server-key', $server_key, '--wait', '500', $remote,
		'set', 'stranger.key', 'injected' ], '>', \$out);
	is($closed->safe_psql('postgres', q{SELECT count(*) FROM mantis_registers('')}), '0',
		'and its writes change nothing');

	# the control: the same probe with an allowed key is answered
	$out = '';
	IPC::Run::run([ $probe, @greeting, '--server-key', $server_key, '--key-file', "$dir/friend.key",
		'--name', 'friend', '--wait', '1500', $remote, 'hold', '1' ], '>', \$out);
	like($out, qr/answered 1 /, 'a client with an allowed key is answered');
	ok($closed->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM mantis_peers WHERE node_name = 'friend'}), 'and shown in mantis_peers');
	ok($closed->poll_query_until('postgres', q{SELECT inbound_connections = 0 FROM mantis_status}),
		'no connection is left counted');
	$closed->stop;
}

done_testing();
