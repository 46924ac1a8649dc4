# Silent misconfigurations get one clear warning and a status column each
# (issue 20, item 4):
#  - a peer listed on one side only: "a" lists "b", "b" lists no peers.  "b"
#    shows "a" as listing 'there only' and warns that it lists no peers;
#    "a" shows "b" as 'here only' once "b" has not greeted it for the grace
#    period (35 s), and warns.  Collection by acknowledgement stops on both;
#  - a node-name collision: a server cloned with pg_basebackup has the same
#    default node name (node-<system identifier>), hence node id; each
#    shows the other in mantis_status.node_id_clash and says to set
#    mantis.node_name;
#  - the extension created in another database than mantis.database:
#    mantis_status.persistence names the database persistence waits in, and
#    the worker warns once in the server log, naming both databases (as
#    soon as a session uses mantis in the other one; sessions are not
#    warned, each of them).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

# --- a peer listed on one side only ------------------------------------------
my ($za, $zb) = map { PostgreSQL::Test::Cluster::get_free_port() } 1 .. 2;
my $b = mantis_node('b', qq{
mantis.listen = 'tcp://127.0.0.1:$zb'
mantis.peer_timeout = '2s'
});
my $a = mantis_node('a', qq{
mantis.listen = 'tcp://127.0.0.1:$za'
mantis.peers = 'tcp://127.0.0.1:$zb'
mantis.peer_timeout = '2s'
});
ok($b->poll_query_until('postgres', q{SELECT listing = 'there only' FROM mantis_peers WHERE node_name = 'a'}),
	'b, listing no peers, shows a (which connects to it) as listed there only');
ok($b->wait_for_log(qr/WARNING:  mantis: node "a" connects to this server, which does not list it in "mantis.peers" \(it lists no peers\)/),
	'and warns, saying it lists no peers');
ok($b->log_contains(qr/starts no repair rounds with that node/), 'and that it repairs nothing from it');
ok($a->poll_query_until('postgres', q{SELECT listing = 'here only' FROM mantis_peers WHERE node_name = 'b'}),
	'a shows b, which never greets it, as listed here only');
ok($a->wait_for_log(qr/WARNING:  mantis: peer tcp:\/\/127\.0\.0\.1:$zb \(node b\) answers but has not greeted this server/),
	'and warns');
like($a->safe_psql('postgres', 'SELECT collection FROM mantis_status'), qr/^lifetime only/,
	'collection by acknowledgement has stopped on a');
$a->stop;
$b->stop;

# --- a server cloned with pg_basebackup: the same default node name ---------
my ($zo, $zc) = map { PostgreSQL::Test::Cluster::get_free_port() } 1 .. 2;
my $orig = PostgreSQL::Test::Cluster->new('orig');
$orig->init(allows_streaming => 1);
$orig->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'mantis'
shared_buffers = 32MB
mantis.listen = 'tcp://127.0.0.1:$zo'
mantis.peers = 'tcp://127.0.0.1:$zc'
});
$orig->start;
$orig->safe_psql('postgres', 'CREATE EXTENSION mantis');
$orig->backup('clone_base');
my $clone = PostgreSQL::Test::Cluster->new('clone');
$clone->init_from_backup($orig, 'clone_base');
$clone->append_conf('postgresql.conf', qq{
mantis.listen = 'tcp://127.0.0.1:$zc'
mantis.peers = 'tcp://127.0.0.1:$zo'
});
$clone->start;
is($clone->safe_psql('postgres', 'SELECT node_name FROM mantis_status'),
	$orig->safe_psql('postgres', 'SELECT node_name FROM mantis_status'), 'the clone has the same default node name');
ok($orig->poll_query_until('postgres', qq{SELECT node_id_clash = 'peer tcp://127.0.0.1:$zc' FROM mantis_status}),
	'the original shows the clone in node_id_clash');
ok($clone->poll_query_until('postgres', qq{SELECT node_id_clash = 'peer tcp://127.0.0.1:$zo' FROM mantis_status}),
	'and the clone the original');
ok($orig->wait_for_log(qr/WARNING:  mantis: refusing peer tcp:\/\/127\.0\.0\.1:$zc: it has the same node id as this server .* give each server its own "mantis.node_name" \(servers cloned with pg_basebackup/),
	'the warning names the peer and says to set mantis.node_name');
$clone->stop;
$orig->stop;

# --- the extension in another database than mantis.database -------------------
my $other = PostgreSQL::Test::Cluster->new('other');
$other->init;
$other->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'mantis'
shared_buffers = 32MB
mantis.node_name = 'other'
});
$other->start;
$other->safe_psql('postgres', 'CREATE DATABASE app');
$other->safe_psql('app', 'CREATE EXTENSION mantis');
my ($rc, $out, $err) = $other->psql('app', q{SELECT mantis_set('k', 'v') IS NULL; SELECT mantis_get('k')});
is("$out|$err", "t\nv|", 'the extension works in database app, and the session is not warned');
ok($other->wait_for_log(qr/WARNING:  mantis persistence is off: it waits for CREATE EXTENSION mantis in database "postgres" \("mantis.database"\), but the extension is in database "app"/),
	'the worker warns in the server log, naming both databases');
$other->safe_psql('app', q{SELECT mantis_get('k')});
$other->safe_psql('app', q{SELECT mantis_get('k')});
is(() = slurp_file($other->logfile) =~ /WARNING:  mantis persistence is off/g, 1, 'once');
is($other->safe_psql('app', 'SELECT persistence FROM mantis_status'),
	'waiting for CREATE EXTENSION in database "postgres"', 'mantis_status.persistence names that database');
$other->safe_psql('postgres', 'CREATE EXTENSION mantis');
ok($other->poll_query_until('app', q{SELECT persistence = 'ready' FROM mantis_status}),
	'CREATE EXTENSION there starts persistence');
$other->stop;

done_testing();
