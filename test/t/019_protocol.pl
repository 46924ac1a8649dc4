# Replication protocol version 4 between two servers of this build: with
# records off (mantis.max_dead_records = 0; the default is 100000) a server speaks 4
# at most whatever mantis.protocol_max (default 5) says, so they negotiate 4
# (mantis_peers.protocol and protocols on both; version 5 between servers
# with records: 049_records_outage, 050_records_mixed); with
# mantis.protocol_max = 3 on one (a reload) both show 3 and replication still
# works both ways; raising it back gives 4 again; a restart of one is greeted
# in 3 and brought back to 4 by its probe; a client that greets in version 3
# (mantis_probe) shows as a version-3 peer; and no frame of either version
# was ever refused as malformed between them.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $c = mantis_cluster(2, q{
mantis.max_dead_records = 0
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];
my %name = ($n1 => 'n1', $n2 => 'n2');
my $key = 0;

# protocol_is(node, peer node, version, protocols): wait until node's
# configured peer row for that peer shows the version, and return whether it
# does, with these advertised versions (undef: NULL)
sub protocol_is
{
	my ($node, $peer, $version, $protocols) = @_;
	my $range = defined $protocols ? "= '$protocols'" : 'IS NULL';
	return $node->poll_query_until('postgres', qq{
SELECT count(*) = 1 AND bool_and(protocol = $version AND protocols $range AND state = 'connected')
  FROM mantis_peers WHERE node_name = '$name{$peer}' AND direction = 'outbound'});
}

# both(version, what): the two servers, each about the other
sub both
{
	my ($version, $what, $p1, $p2) = @_;
	ok(protocol_is($n1, $n2, $version, $p1), "n1 speaks protocol $version with n2 $what");
	ok(protocol_is($n2, $n1, $version, $p2), "n2 speaks protocol $version with n1 $what");
}

# replicates(what): a write on each server reaches the other
sub replicates
{
	my ($what) = @_;
	for my $pair ([ $n1, $n2 ], [ $n2, $n1 ])
	{
		my ($from, $to) = @$pair;
		my $k = 'proto.' . ++$key;
		$from->safe_psql('postgres', qq{SELECT mantis_set('$k', '$name{$from}')});
		ok($to->poll_query_until('postgres', qq{SELECT mantis_get('$k') IS NOT DISTINCT FROM '$name{$from}'}),
			"a write on $name{$from} reaches $name{$to} $what");
	}
}

sub set_protocol_max
{
	my ($node, $max) = @_;
	$node->append_conf('postgresql.conf', "mantis.protocol_max = $max\n");
	$node->reload;
	ok($node->poll_query_until('postgres', qq{SELECT current_setting('mantis.protocol_max') = '$max'}),
		"$name{$node} reloaded mantis.protocol_max = $max");
}

is($n1->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'mantis'}), '1.4',
	'the extension is 1.4');
is($n1->safe_psql('postgres', q{SELECT setting || ' ' || min_val || ' ' || max_val || ' ' || context FROM pg_settings WHERE name = 'mantis.protocol_max'}),
	'5 3 5 sighup', 'mantis.protocol_max: 3 to 5, default 5, on reload');

both(4, 'once they met', '3-4', '3-4');
replicates('in protocol 4');

# one server lowered to 3: both greet in 3, the frames are the same
set_protocol_max($n1, 3);
both(3, 'once n1 has mantis.protocol_max = 3', '3-4', undef);
replicates('in protocol 3');
is($n1->safe_psql('postgres', q{SELECT protocol FROM mantis_peers WHERE node_name = 'n2'}), '3',
	'n1 greets n2 in 3 whatever n2 advertises');

# back to 4
set_protocol_max($n1, 4);
both(4, 'once n1 has mantis.protocol_max = 4 again', '3-4', '3-4');
replicates('in protocol 4 again');

# a restart of n2: a new incarnation, greeted in 3 until its probe says 4
$n2->restart;
$n2->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
  or die 'n2 did not become ready';
both(4, 'after n2 restarted', '3-4', '3-4');
replicates('after the restart');
like(slurp_file($n1->logfile), qr/replication protocol with peer n2 is now version 4/,
	'n1 logged the version in use with n2');

# a node that greets in version 3 only (mantis_probe), inbound
my $probe = build_probe();
my $encoding = $n2->safe_psql('postgres', 'SHOW server_encoding');
system($probe, '--name', 'old', '--encoding', $encoding, "tcp://127.0.0.1:$c->{zmq}[2]",
	'set', 'proto.old', 'from a version-3 node') == 0 or die;
ok($n2->poll_query_until('postgres', q{SELECT mantis_get('proto.old') IS NOT DISTINCT FROM 'from a version-3 node'}),
	'a node greeting in version 3 replicates to n2');
is($n2->safe_psql('postgres', q{SELECT protocol || ' ' || coalesce(protocols, 'NULL') || ' ' || direction FROM mantis_peers WHERE node_name = 'old'}),
	'3 NULL inbound', 'and shows as a version-3 peer: protocol 3, no advertised versions');

# nothing either sent was refused as malformed, probes included
for my $node ($n1, $n2)
{
	is($node->safe_psql('postgres', q{SELECT sum(rejected_malformed) FROM mantis_peers}), '0',
		"$name{$node}: no message from a peer rejected as malformed");
	is($node->safe_psql('postgres', q{SELECT rejected_unknown FROM mantis_status}), '0',
		"$name{$node}: none from an unknown sender either");
}

done_testing();
