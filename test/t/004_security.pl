# Security: CURVE-encrypted, mutually authenticated replication; refusals
# of strangers, of unencrypted clients, of peers speaking for another node,
# and of revoked keys; a secret key file others can read; the warning for a
# non-loopback endpoint without CURVE (on a network declared trusted);
# search_path hijacks.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $probe = build_probe();
my $c = mantis_cluster(3, qq{
mantis.sync_interval = '1s'
mantis.peer_timeout = '2s'
}, curve => 1);
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];
my $zmq1 = "tcp://127.0.0.1:$c->{zmq}[1]";
# the probe's HELLO claims n1's limits (the defaults) and database encoding
my @greeting = ('--encoding', $n1->safe_psql('postgres', 'SHOW server_encoding'));

sub wait_value
{
	my ($node, $key, $value) = @_;
	return $node->poll_query_until('postgres',
		qq{SELECT mantis_get('$key') IS NOT DISTINCT FROM '$value'});
}

sub status { $_[0]->safe_psql('postgres', "SELECT $_[1] FROM mantis_status") }

# --- replication works, encrypted ------------------------------------------
for my $node ($n1, $n2, $n3)
{
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected'})
	  or die $node->name . ' did not connect with CURVE';
}
ok($n1->log_contains('listening on \S+ as node "n1" with CURVE'), 'n1 listens with CURVE');
$n1->safe_psql('postgres', q{SELECT mantis_set('secret.flag', 'on')});
ok(wait_value($n3, 'secret.flag', 'on'), 'a set on n1 reaches n3 over CURVE');
ok(wait_value($n2, 'secret.flag', 'on'), 'and n2');

# --- a client without encryption is refused and counted ---------------------
my $refused0 = status($n1, 'refused_connections');
system($probe, @greeting, $zmq1, 'set', 'plain.key', 'injected') == 0 or die;
ok($n1->poll_query_until('postgres',
	qq{SELECT refused_connections::int > $refused0 FROM mantis_status}),
	'an unencrypted client is refused and counted');
is($n1->safe_psql('postgres', q{SELECT mantis_get('plain.key')}), '', 'and its set did nothing');

# --- a client with an unknown key is refused, counted and logged ------------
$refused0 = status($n1, 'refused_connections');
system($probe, @greeting, '--server-key', $c->{keys}[1], $zmq1, 'set', 'stranger.key', 'injected') == 0 or die;
ok($n1->poll_query_until('postgres',
	qq{SELECT refused_connections::int > $refused0 FROM mantis_status}),
	'a client with an unknown key is refused and counted');
ok($n1->log_contains('whose CURVE key is not in "mantis.curve_peers_file"'), 'with a log line');
is($n1->safe_psql('postgres', q{SELECT mantis_get('stranger.key')}), '', 'and its set did nothing');

# --- n3's key, claiming to be n2: dropped and counted ------------------------
my $malformed0 = $n1->safe_psql('postgres',
	q{SELECT coalesce(sum(rejected_malformed::int), 0) FROM mantis_peers});
system($probe, @greeting, '--server-key', $c->{keys}[1], '--key-file', $c->{key_files}[3],
	'--name', 'n2', $zmq1, 'set', 'spoofed.key', 'injected') == 0 or die;
ok($n1->poll_query_until('postgres',
	qq{SELECT coalesce(sum(rejected_malformed::int), 0) + rejected_unknown::int > $malformed0
	     FROM mantis_peers, mantis_status GROUP BY rejected_unknown}),
	'a peer speaking for another node is dropped and counted');
ok($n1->log_contains('claiming to come from node id'), 'with a log line');
is($n1->safe_psql('postgres', q{SELECT mantis_get('spoofed.key')}), '', 'and its set did nothing');
# the same key speaking for its own node is fine
system($probe, @greeting, '--server-key', $c->{keys}[1], '--key-file', $c->{key_files}[3],
	'--name', 'n3', $zmq1, 'set', 'honest.key', 'from n3') == 0 or die;
ok(wait_value($n1, 'honest.key', 'from n3'), 'n3\'s key speaking as n3 is accepted');

# --- a reload that removes n3's key revokes it ------------------------------
my $peers_file = $c->{peers_files}[1];
my $original = slurp_file($peers_file);
open my $f, '>', $peers_file or die;
print $f grep { !/^n3 / } split /^/, $original;
close $f;
$n1->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok($n1->poll_query_until('postgres', q{SELECT count(*) = 0 FROM mantis_peers WHERE node_name = 'n3' AND direction = 'outbound'}),
	'after the reload n1 no longer connects to n3');
# n2 still trusts n3 and would relay its registers: cut n2 and n3 apart, so
# that n3 can only reach n1 directly
cut_link($c, 2, 3);
cut_link($c, 3, 2);
$n3->safe_psql('postgres', q{SELECT mantis_set('after.revoke', 'from n3')});
sleep 2;
is($n1->safe_psql('postgres', q{SELECT mantis_get('after.revoke')}), '',
	'n1 takes nothing from the revoked key');
ok($n1->log_contains('its key is no longer allowed|whose CURVE key is not in'),
	'and logs why');
open $f, '>', $peers_file or die;
print $f $original;
close $f;
$n1->safe_psql('postgres', 'SELECT pg_reload_conf()');
heal_link($c, 2, 3);
heal_link($c, 3, 2);
ok(wait_value($n1, 'after.revoke', 'from n3'), 'restoring the key lets n3 back in, and repair catches up');

# --- a secret key file others may read stops the server ---------------------
my $bad = PostgreSQL::Test::Cluster->new('badkey');
$bad->init;
my $dir = PostgreSQL::Test::Utils::tempdir();
keygen('badkey', "$dir/bad.key");
chmod 0644, "$dir/bad.key";
open $f, '>', "$dir/bad.peers" or die;
close $f;
my $badport = PostgreSQL::Test::Cluster::get_free_port();
$bad->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'mantis'
shared_buffers = 32MB
mantis.listen = 'tcp://127.0.0.1:$badport'
mantis.curve_secret_key_file = '$dir/bad.key'
mantis.curve_peers_file = '$dir/bad.peers'
});
ok(!$bad->start(fail_ok => 1), 'a server whose key file is world-readable refuses to start');
like(slurp_file($bad->logfile), qr/invalid "mantis.curve_secret_key_file": .*has group or world access/,
	'with a clear message');
chmod 0600, "$dir/bad.key";
ok($bad->start(fail_ok => 1), 'and starts once the file is private');
unlike(slurp_file($bad->logfile), qr/secret = /, 'the secret key never reaches the log');
$bad->stop;

# --- without CURVE, a non-loopback endpoint needs mantis.insecure_network, ---
# --- and is warned about (033 shows the start refused without it) ----------
my $open = mantis_node('open', qq{
mantis.listen = 'tcp://*:$badport'
mantis.insecure_network = on
});
ok($open->log_contains('not a loopback address, without authentication or encryption'),
	'a server listening beyond loopback without CURVE logs a warning');
$open->stop;

# --- SQL: search_path hijacks are not followed -------------------------------
# A hostile schema, first on every search_path, shadows the functions and
# operators the install script and the worker use; each logs its calls.
$n1->safe_psql('postgres', q{
CREATE ROLE hijacker;
CREATE SCHEMA evil AUTHORIZATION hijacker;
CREATE TABLE evil.calls (what text);
GRANT INSERT ON evil.calls TO PUBLIC;
CREATE FUNCTION evil.count(anyelement) RETURNS bigint LANGUAGE sql AS
  $$ INSERT INTO evil.calls VALUES ('count'); SELECT 0::bigint $$;
CREATE FUNCTION evil.octet_length(bytea) RETURNS int LANGUAGE sql AS
  $$ INSERT INTO evil.calls VALUES ('octet_length'); SELECT 0 $$;
CREATE FUNCTION evil.sum_step(bigint, int) RETURNS bigint LANGUAGE sql AS
  $$ INSERT INTO evil.calls VALUES ('sum'); SELECT 0::bigint $$;
CREATE AGGREGATE evil.sum(int) (SFUNC = evil.sum_step, STYPE = bigint);
CREATE FUNCTION evil.texteq(text, text) RETURNS boolean LANGUAGE sql AS
  $$ INSERT INTO evil.calls VALUES ('='); SELECT false $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.texteq);
CREATE FUNCTION evil.int8lt(bigint, bigint) RETURNS boolean LANGUAGE sql AS
  $$ INSERT INTO evil.calls VALUES ('<'); SELECT false $$;
CREATE OPERATOR evil.< (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8lt);
CREATE FUNCTION evil.mantis_status() RETURNS SETOF record LANGUAGE sql AS
  $$ INSERT INTO evil.calls VALUES ('mantis_status'); SELECT NULL::record WHERE false $$;
ALTER DATABASE postgres SET search_path = evil, pg_catalog, public;
ALTER ROLE postgres SET search_path = evil, pg_catalog, public;
});
$n1->restart;
$n1->safe_psql('postgres',
	q{SELECT pg_catalog.count(public.mantis_set('hijack.' OPERATOR(pg_catalog.||) i, 'v')) FROM pg_catalog.generate_series(1, 300) i});
$n1->safe_psql('postgres', q{SELECT public.mantis_flush()});
$n1->safe_psql('postgres', q{SELECT * FROM public.mantis_status});
# a new database: the install script under the hostile search_path
$n1->safe_psql('postgres', q{CREATE DATABASE victim});
$n1->safe_psql('victim', q{
CREATE SCHEMA evil;
CREATE TABLE evil.calls (what text);
CREATE FUNCTION evil.mantis_status() RETURNS SETOF record LANGUAGE sql AS
  $$ INSERT INTO evil.calls VALUES ('mantis_status'); SELECT NULL::record WHERE false $$;
SET search_path = evil, pg_catalog, public;
CREATE EXTENSION mantis SCHEMA public;
SELECT * FROM public.mantis_status;
});
$n1->restart;    # loading walks mantis_stores with the hostile settings in place
is($n1->safe_psql('postgres', q{SELECT pg_catalog.count(*) FROM pg_catalog.generate_series(1, 300) i
	WHERE public.mantis_get('hijack.' OPERATOR(pg_catalog.||) i) OPERATOR(pg_catalog.=) 'v'}), '300',
	'flushing and loading worked under a hostile search_path');
is($n1->safe_psql('postgres', q{SELECT pg_catalog.string_agg(what, ',') FROM evil.calls}), '',
	'the worker and the install script never called the hostile functions or operators');
is($n1->safe_psql('victim', q{SELECT pg_catalog.string_agg(what, ',') FROM evil.calls}), '',
	'not even in a database where CREATE EXTENSION ran with them first on search_path');
$n1->safe_psql('postgres', q{ALTER DATABASE postgres RESET search_path; ALTER ROLE postgres RESET search_path});

# --- no crash anywhere -----------------------------------------------------
for my $node ($n1, $n2, $n3)
{
	unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal/, $node->name . ' logged no crash');
}
$_->stop for ($n1, $n2, $n3);
done_testing();
