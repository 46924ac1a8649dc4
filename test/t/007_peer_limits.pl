# Peers must share their limits: greetings carry mantis.max_key_size,
# mantis.max_value_size and the database encoding, and a peer whose limits
# differ is refused (both ways, with the reason in mantis_peers) until it
# restarts with the same ones.  And a peer that refuses registers with equal
# limits (its store is full) is not sent the same ones again every repair
# round: they are held, counted, and sent once it has room.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $probe = build_probe();

sub peer_value
{
	my ($node, $name, $column) = @_;
	return $node->safe_psql('postgres',
		qq{SELECT coalesce(sum(${column}::bigint), 0) FROM mantis_peers WHERE node_name = '$name'});
}

# last_error of a node's peer (peer_row cannot read the quotes it holds)
sub last_error
{
	my ($node, $name) = @_;
	return $node->safe_psql('postgres',
		qq{SELECT last_error FROM mantis_peers WHERE node_name = '$name' AND direction = 'outbound'});
}

# wait until every node shows every other one in the given state
sub wait_state
{
	my ($state, @nodes) = @_;
	for my $node (@nodes)
	{
		$node->poll_query_until('postgres',
			qq{SELECT count(*) = 1 FROM mantis_peers WHERE direction = 'outbound' AND state = '$state'})
		  or return 0;
	}
	return 1;
}

# =========================================================================
# (a) different mantis.max_value_size: refused both ways, until a restart
# =========================================================================
my $c = mantis_cluster(2, qq{
mantis.sync_interval = '200ms'
mantis.peer_timeout = '2s'
mantis.max_value_size = 4096
}, node_conf => { 2 => "mantis.max_value_size = 1024\n" });
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];

ok($n1->poll_query_until('postgres',
	q{SELECT state = 'refused' FROM mantis_peers WHERE node_name = 'n2' AND direction = 'outbound'}),
	'n1 shows n2 refused');
ok($n2->poll_query_until('postgres',
	q{SELECT state = 'refused' FROM mantis_peers WHERE node_name = 'n1' AND direction = 'outbound'}),
	'n2 shows n1 refused');
like(last_error($n1, 'n2'),
	qr/peer n2 has "mantis.max_value_size" = 1024 bytes, this server 4096: every server must have the same/,
	'n1 says why in last_error');
like(last_error($n2, 'n1'),
	qr/peer n1 has "mantis.max_value_size" = 4096 bytes, this server 1024/,
	'so does n2');
ok($n1->log_contains('WARNING:  mantis: peer n2 has "mantis.max_value_size" = 1024 bytes'),
	'and n1 logs it');

# a set on n1 does not reach n2: wait for three more greetings from n1 to
# arrive at n2 (three seconds of a live link, and a dozen repair intervals),
# then look
$n1->safe_psql('postgres', q{SELECT mantis_set('limits.small', 'fits both')});
$n1->safe_psql('postgres', q{SELECT mantis_set('limits.large', repeat('v', 2000))});
my $greetings = peer_value($n2, 'n1', 'messages_in');
ok($n2->poll_query_until('postgres',
	qq{SELECT sum(messages_in::bigint) >= $greetings + 6 FROM mantis_peers WHERE node_name = 'n1'}),
	'n2 keeps hearing n1\'s greetings');
is($n2->safe_psql('postgres', q{SELECT count(*) FROM mantis_registers() WHERE key LIKE 'limits.%'}),
	'0', 'no register of n1 reached n2');
is(peer_value($n2, 'n1', 'rejected_malformed'), '0',
	'and none was sent to be rejected there: n1 sends nothing but greetings');
is(peer_value($n1, 'n2', 'registers_applied'), '0', 'nor did n2 send any to n1');
my $warnings = () = slurp_file($n1->logfile) =~ /WARNING:  mantis: peer n2 has/g;
is($warnings, 1, 'n1 logged the refusal once');

# a node that greets with other limits and sends anyway is counted
my $zmq2 = "tcp://127.0.0.1:$c->{zmq}[2]";
my $encoding = $n2->safe_psql('postgres', 'SHOW server_encoding');
system($probe, '--name', 'stranger', '--max-value-size', '4096', '--encoding', $encoding,
	$zmq2, 'set', 'limits.stranger', 'pushed anyway') == 0 or die;
ok($n2->poll_query_until('postgres',
	q{SELECT rejected_limits::int = 1 AND state = 'refused' FROM mantis_peers WHERE node_name = 'stranger'}),
	'a node that sends after a greeting with other limits is refused, and its update counted');
is($n2->safe_psql('postgres', q{SELECT mantis_get('limits.stranger')}), '', 'and not applied');
system($probe, '--name', 'stranger', '--max-value-size', '1024', '--encoding', $encoding,
	$zmq2, 'set', 'limits.stranger', 'same limits now') == 0 or die;
ok($n2->poll_query_until('postgres',
	q{SELECT mantis_get('limits.stranger') IS NOT DISTINCT FROM 'same limits now'}),
	'once it greets with the same limits, its updates are taken');
is($n2->safe_psql('postgres', q{SELECT state FROM mantis_peers WHERE node_name = 'stranger'}),
	'inbound', 'and it is an inbound peer again');
$n2->safe_psql('postgres', q{SELECT mantis_delete('limits.stranger')});

# n2 restarts with n1's limits: they connect and converge
$n2->append_conf('postgresql.conf', "mantis.max_value_size = 4096\n");
$n2->restart;
ok(wait_state('connected', $n1, $n2), 'after n2 restarts with n1\'s limits, both are connected');
ok($n2->poll_query_until('postgres',
	q{SELECT mantis_get('limits.large') IS NOT DISTINCT FROM repeat('v', 2000)}),
	'the value set on n1 while refused reaches n2 by repair');
ok(wait_converged($n1, $n2), 'and the two converge');
$n1->safe_psql('postgres', q{SELECT mantis_set('limits.live', 'after')});
ok($n2->poll_query_until('postgres', q{SELECT mantis_get('limits.live') IS NOT DISTINCT FROM 'after'}),
	'live changes flow again');

# another database encoding is refused too
my $latin1 = $encoding eq 'LATIN1' ? 'WIN1252' : 'LATIN1';
my $zmq3 = PostgreSQL::Test::Cluster::get_free_port();
my $n3 = mantis_node('n3', qq{
mantis.listen = 'tcp://127.0.0.1:$zmq3'
mantis.peers = 'tcp://127.0.0.1:$c->{zmq}[1]'
mantis.max_value_size = 4096
}, initdb => [ '--encoding', $latin1, '--locale', 'C' ]);
ok($n3->poll_query_until('postgres',
	qq{SELECT state = 'refused' AND last_error LIKE 'peer n1 has database encoding $encoding, this server $latin1:%'
	     FROM mantis_peers WHERE direction = 'outbound'}),
	"a server whose database encoding is $latin1 refuses n1 ($encoding)");
ok($n1->poll_query_until('postgres',
	qq{SELECT state = 'refused' AND last_error LIKE 'peer n3 has database encoding $latin1%'
	     FROM mantis_peers WHERE node_name = 'n3'}),
	'and n1 refuses it, as an inbound peer');
$n3->stop;

for my $node ($n1, $n2, $n3)
{
	unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal/, $node->name . ' logged no crash');
}
$_->stop for ($n1, $n2);

# =========================================================================
# (b) equal limits, a full store: refused registers are held, then sent
# =========================================================================
my $keys = 80;
my $value_size = 32 * 1024;
$c = mantis_cluster(2, qq{
mantis.sync_interval = '200ms'
mantis.peer_timeout = '2s'
}, node_conf => { 2 => "mantis.max_keys = 16\n" }, prefix => 'f');
my ($s, $r) = @{ $c->{nodes} }[ 1, 2 ];
ok(wait_state('connected', $s, $r), 'sender f1 and receiver f2 (mantis.max_keys = 16) are connected');
$s->safe_psql('postgres',
	qq{SELECT count(mantis_set('full.' || i, repeat(chr(97 + i % 26), $value_size))) FROM generate_series(1, $keys) i});
ok($r->poll_query_until('postgres',
	q{SELECT sum(rejected_no_room::bigint) > 0 FROM mantis_peers WHERE node_name = 'f1'}),
	'f2 refuses what its full store cannot take');
is($r->safe_psql('postgres', q{SELECT count(*) <= 16 FROM mantis_registers(true)}), 't',
	'it holds at most 16 registers');

ok($s->poll_query_until('postgres',
	q{SELECT repair_held::bigint > 0 FROM mantis_peers WHERE node_name = 'f2'}),
	'f1 holds back registers f2 refused before (repair_held)');

# once the backoff has grown, compare a window of held registers with what
# went out and with what f2 refused meanwhile
ok($s->poll_query_until('postgres',
	q{SELECT repair_held::bigint > 3000 FROM mantis_peers WHERE node_name = 'f2'}),
	'repair_held keeps growing, round after round');
my ($held0, $out0) = split /\|/, $s->safe_psql('postgres',
	q{SELECT repair_held, bytes_out FROM mantis_peers WHERE node_name = 'f2'});
my $refused0 = peer_value($r, 'f1', 'rejected_no_room');
ok($s->poll_query_until('postgres',
	qq{SELECT repair_held::bigint > $held0 + 2000 FROM mantis_peers WHERE node_name = 'f2'}),
	'2,000 more registers held');
my ($held1, $out1) = split /\|/, $s->safe_psql('postgres',
	q{SELECT repair_held, bytes_out FROM mantis_peers WHERE node_name = 'f2'});
my $refused1 = peer_value($r, 'f1', 'rejected_no_room');
my ($held, $out, $refused) = ($held1 - $held0, $out1 - $out0, $refused1 - $refused0);
note("window: $held registers held, $out bytes out, $refused registers refused by f2");
cmp_ok($out, '<', $held * $value_size / 4,
	'f1 sent far less than the registers it held would have cost');
cmp_ok($refused, '<', $held / 4, 'f2 was sent few of them again, and refused those');

# f2 restarts with room: the held registers arrive
$r->append_conf('postgresql.conf', "mantis.max_keys = 1000\n");
$r->restart;
ok($r->poll_query_until('postgres',
	qq{SELECT count(*) = $keys FROM mantis_registers() WHERE key LIKE 'full.%'}),
	"after f2 restarts with room, all $keys registers arrive");
ok(wait_converged($s, $r), 'and the two converge');
for my $node ($s, $r)
{
	unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal/, $node->name . ' logged no crash');
}
$_->stop for ($s, $r);
done_testing();
