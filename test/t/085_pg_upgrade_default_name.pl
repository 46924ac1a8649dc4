# pg_upgrade from PostgreSQL 15 to the installed version (18 in CI) of a
# server that runs under the default node name (mantis.node_name empty:
# node-<system identifier>), done as README's "Upgrading PostgreSQL" says:
# every mantis.* setting of the old cluster copied into the new one, which
# for such a server holds no node name.  The new cluster is a new initdb,
# with a system identifier of its own, which pg_upgrade does not carry
# over: the default name changes, and with it the server's identity
# (README: "the same node name above all: the server's identity is its
# name").  What a server must give then, one or the other:
#  - it keeps its identity: the node name it had, and a token it gave
#    before the upgrade still answers on it (mantis_wait_for), or
#  - it says so: a WARNING naming the former name and mantis.node_name,
#    so that the operator sets it before the clients and peers notice.
# It warns (persist/load.c), with the setting to make: before, it came up
# as node-<new system identifier> without a word, its own tokens from
# before failed ("written by node ..., which is not a peer of this
# server"), every follower's cursor failed (MT001), and with CURVE every
# peer dropped its messages (the key is bound to the former name).
# Needs both installations side by side, as 084 (MANTIS_PG15_UPGRADE_INSTALL).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

# n1 on 15 under the default name (a later line wins over mantis_node's)
my ($c, $old) = mixed_cluster(2, 'MANTIS_PG15_UPGRADE_INSTALL', node_conf => { 1 => "mantis.node_name = ''\n" });
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];
my $new_major = server_major();

sub sql { my ($node, $q) = @_; return $node->safe_psql('postgres', $q) }

my $name_before = sql($n1, 'SELECT node_name FROM mantis_status');
like($name_before, qr/^node-\d+$/, 'n1 runs under the default node name');
wait_peers_connected(1, $n1, $n2);
sql($n1, q{SELECT mantis_set('dn.' || i, 'v' || i) FROM generate_series(1, 50) i});
# psql runs each statement in a transaction of its own: the token is the COMMIT's
my ($token) = reverse split /\n/,
  sql($n1, q{SELECT mantis_set('dn.token', 'x'); SELECT mantis_last_commit();});
like($token, qr/^\d{4}-/, 'n1 gave a token');
ok(wait_converged($n1, $n2), 'n1 and n2 converge before the upgrade');
is(sql($n1, qq{SELECT mantis_wait_for('$token', '5 seconds')}), 't', 'a token of n1 answers on n1');
sql($n1, 'SELECT mantis_flush()');

# --- the upgrade, every mantis.* setting copied --------------------------------
$n1->stop;
my $new = upgrade_node($n1, $old);

$new->start;
wait_loaded($new);
wait_peers_connected(1, $new, $n2);
ok(wait_converged($new, $n2), 'the upgraded n1 and n2 converge');

my $name_after = sql($new, 'SELECT node_name FROM mantis_status');
my ($rc, $answer, $err) = $new->psql('postgres', qq{SELECT mantis_wait_for('$token', '5 seconds')});
my $kept = $name_after eq $name_before && $rc == 0 && $answer eq 't';
my $server_log = slurp_file($new->logfile);
my $warned = $server_log =~ /WARNING:[^\n]*\Q$name_before\E/
  && $server_log =~ /HINT:[^\n]*"mantis\.node_name" = '\Q$name_before\E'/;
ok($kept || $warned,
	'the upgraded server keeps its identity, or warns that it lost it')
  or diag("node name before $name_before, after $name_after; its own token from before: "
	  . ($rc == 0 ? $answer : $err));

$new->stop;
$n2->stop;
done_testing();
