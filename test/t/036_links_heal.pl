# Links heal and tell the truth (issue 20, item 3).  libzmq 4.3 gives up
# for good on a connection whose handshake the peer refused; the worker
# makes that connection again, with a backoff, and at once on a reload:
#  - a link with no TCP connection behind it is not shown connected, though
#    the peer still greets us by its own connection, and last_error says why;
#  - a key rotation done in the natural order (n1 takes a new key, n2 learns
#    it afterwards by a reload): n1's connection, refused meanwhile ("our
#    CURVE key is not allowed there"), heals by itself within seconds of
#    n2's reload, without a restart or a reload of n1; the refusal is logged
#    once, with the client's address, never with n2's own;
#  - a connection refused for the peer's mantis.max_inbound_connections heals
#    once the peer's cap is raised by a reload.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use MantisTest;

my $probe = build_probe();
my $c = mantis_cluster(2, qq{
mantis.peer_timeout = '2s'
}, curve => 1);
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];
my $zmq2 = "tcp://127.0.0.1:$c->{zmq}[2]";

sub outbound
{
	my ($node, $what) = @_;
	return $node->safe_psql('postgres', "SELECT $what FROM mantis_peers WHERE direction = 'outbound'");
}

sub wait_outbound
{
	my ($node, $cond) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM mantis_peers WHERE direction = 'outbound' AND ($cond)");
}

for my $n ($n1, $n2)
{
	wait_outbound($n, q{state = 'connected'}) or die $n->name . ' did not connect';
}

# --- an outgoing link with no TCP connection is not "connected" ------------
# n2's own connection to n1 stays up: its greetings keep coming to n1
cut_link($c, 1, 2);
ok(wait_outbound($n1, q{state <> 'connected'}),
	"n1's link to n2 cut: n1 no longer shows n2 connected, though n2 still greets it");
ok(wait_outbound($n1, q{last_error LIKE '%connection closed%' OR last_error LIKE 'could not connect%'}),
	'and last_error says the connection closed');
note('last_error: ' . outbound($n1, 'last_error'));
heal_link($c, 1, 2);
ok(wait_outbound($n1, q{state = 'connected'}), 'the link healed, connected again');

# --- a key rotation in the natural order -------------------------------------
my $dir = PostgreSQL::Test::Utils::tempdir();
my $new_key = keygen('n1', "$dir/n1.new.key");
$n1->stop;
$n1->append_conf('postgresql.conf', "mantis.curve_secret_key_file = '$dir/n1.new.key'\n");
$n1->start;
ok(wait_outbound($n1, q{last_error LIKE '%refused our connection: our CURVE key is not allowed there%'}),
	'n1 with a key n2 does not know yet: last_error says n2 refused our key');
is(outbound($n1, 'state'), 'connecting', 'and the link is not connected');
ok(wait_outbound($n2, q{last_error LIKE '%closed the connection%CURVE key%'}),
	"n2, with n1's old key: last_error says n1 closed the handshake and asks about the key");
ok($n2->log_contains(qr/refused a client at 127\.0\.0\.1 whose CURVE key is not in/),
	"n2 logs the refusal with the client's address");
ok(!$n2->log_contains(qr/refused a connection from \Q$zmq2\E/),
	"and never names its own address as the client's");

# n2 learns n1's new key: only n2 reloads
my $peers2 = slurp_file($c->{peers_files}[2]);
$peers2 =~ s/^n1 \S+ /n1 $new_key /m or die 'no n1 line';
open my $f, '>', $c->{peers_files}[2] or die;
print $f $peers2;
close $f;
my $t0 = time();
$n2->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok(wait_outbound($n1, q{state = 'connected'}), "n1's refused link reconnects by itself after n2's reload");
my $took = time() - $t0;
note(sprintf('n1 connected %.1f s after the reload of n2', $took));
cmp_ok($took, '<', 30, 'within seconds (the backoff is at most 30 s)');
cmp_ok(outbound($n1, 'reconnects'), '>', 0, 'n1 counts its connection made again');
ok(wait_outbound($n2, q{state = 'connected'}), 'n2 reconnects too (its reload gave it the new key)');
$n1->safe_psql('postgres', q{SELECT mantis_set('after.rotation', 'live')});
ok($n2->poll_query_until('postgres', q{SELECT mantis_get('after.rotation') = 'live'}),
	'a write on n1 reaches n2');

# --- refused over the peer's connection limit, healed by a raised cap ----
my $friend_key = keygen('friend', "$dir/friend.key");
open $f, '>>', $c->{peers_files}[2] or die;
print $f "friend $friend_key\n";
close $f;
$n2->append_conf('postgresql.conf', "mantis.max_inbound_connections = 1\n");
$n2->safe_psql('postgres', 'SELECT pg_reload_conf()');
cut_link($c, 1, 2);
ok($n2->poll_query_until('postgres', q{SELECT inbound_connections = 0 FROM mantis_status}),
	"n1's connection to n2 is gone");
my ($out, $err) = ('', '');
my $h = IPC::Run::start([ $probe, '--encoding', $n2->safe_psql('postgres', 'SHOW server_encoding'),
	'--server-key', $c->{keys}[2], '--key-file', "$dir/friend.key", '--name', 'friend',
	'--wait', '120000', $zmq2, 'hold', '1' ], '>', \$out, '2>', \$err);
ok($n2->poll_query_until('postgres', q{SELECT inbound_connections = 1 FROM mantis_status}),
	'a client takes the one connection n2 allows');
heal_link($c, 1, 2);
ok(wait_outbound($n1, q{last_error LIKE '%over its connection limit%'}),
	"n1's connection is refused: last_error names n2's connection limit");
$n2->append_conf('postgresql.conf', "mantis.max_inbound_connections = 64\n");
$t0 = time();
$n2->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok(wait_outbound($n1, q{state = 'connected'}), 'n1 reconnects by itself once n2 raises its cap');
note(sprintf('n1 connected %.1f s after the reload of n2', time() - $t0));
$h->kill_kill;

$_->stop for $n1, $n2;
done_testing();
