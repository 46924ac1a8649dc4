# pg_upgrade from PostgreSQL 15 to the installed version (18 in CI) of a
# server with mantis, in a cluster that stays up: n1 runs 15, n2 the later
# version.  n1 is stopped, upgraded with pg_upgrade (--link off, its own
# copy), and started on the later version with the same mantis settings:
#  - it keeps every register it had, with its HLC and node, and its
#    deleted keys stay deleted (all in mantis_stores, whose files
#    pg_upgrade carries over), and the extension's catalog objects, version
#    and grants;
#  - pg_upgrade ran its servers without mantis's workers (binary-upgrade
#    mode): none loaded a store, wrote mantis_stores or met a peer;
#  - back among its peers, it gets what n2 wrote while it was down, its own
#    writes reach n2, and a write made after the upgrade beats every older
#    one (its clock moved past what it loaded).
# Needs both installations side by side: MANTIS_PG15_UPGRADE_INSTALL names
# 15's (test/run_all.sh sets it in the 18 root, test/pg_root.sh); elsewhere
# the file skips, saying so.  That 15 is Debian 12's 15.18: pg_upgrade of
# sid's 18.6 cannot upgrade any table of a 15.20 server, which gives every
# column an attribute option (pg_attver) 18.6 refuses (README, Upgrading
# PostgreSQL).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my ($c, $old) = mixed_cluster(2, 'MANTIS_PG15_UPGRADE_INSTALL');
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];
my $new_major = server_major();

sub sql { my ($node, $q) = @_; return $node->safe_psql('postgres', $q) }

# what pg_upgrade must keep of the extension: its objects, version, grants
my $catalog = q{
SELECT string_agg(d, E'\n' ORDER BY d) FROM (
  SELECT pg_describe_object(classid, objid, objsubid) AS d
    FROM pg_depend
   WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
     AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'mantis')
     -- the row types of the extension's table and views (and their
     -- arrays): 18's pg_upgrade lists them as members, a CREATE EXTENSION
     -- does not, on any version
     AND NOT (classid = 'pg_type'::regclass AND objid IN (
          SELECT t.oid FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem
           WHERE t.typrelid <> 0 OR e.typrelid <> 0))
  UNION ALL
  SELECT 'version ' || extversion FROM pg_extension WHERE extname = 'mantis'
  UNION ALL
  SELECT format('grant %s on %s', r.rolname, p.oid::regprocedure)
    FROM pg_proc p, pg_roles r
   WHERE p.proname LIKE 'mantis\_%' AND r.rolname LIKE 'mantis\_%'
     AND has_function_privilege(r.oid, p.oid, 'EXECUTE')) s};

wait_peers_connected(1, $n1, $n2);
sql($n1, q{SELECT mantis_set('up.' || i, 'v' || i) FROM generate_series(1, 200) i});
sql($n1, q{SELECT mantis_set('up.typed', 7)});
sql($n1, q{SELECT mantis_set('up.ttl', 'for a day', '1 day')});
sql($n2, q{SELECT mantis_set('up.from_n2', 'written on the later version')});
sql($n1, q{SELECT mantis_delete('up.13')});
ok(wait_converged($n1, $n2), 'n1 (15) and n2 converge before the upgrade');
sql($n1, 'SELECT mantis_flush()');
# the live registers: a deletion marker may be collected at any time now
# that n2 has it, and with it leave the dump (its key stays deleted)
sub live_dump
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT string_agg(key || '|' || value || '|' || hlc || '|' || node, E'\n' ORDER BY key) FROM mantis_registers()});
}
my $before = live_dump($n1);
my $catalog_before = sql($n1, $catalog);
like($catalog_before, qr/function mantis_set\(text,text\)/, 'the extension\'s objects are listed');

# --- the upgrade ------------------------------------------------------------
$n1->stop;
sql($n2, q{SELECT mantis_set('up.1', 'overwritten on n2 while n1 was down')});
sql($n2, q{SELECT mantis_set('up.while_down', 'new while n1 was down')});

my $new = upgrade_node($n1, $old);
my $settings = $new->{mantis_settings};

# pg_upgrade's servers (its log, kept by --retain) loaded no store and
# listened for no peer
my @server_logs = glob($new->data_dir . '/pg_upgrade_output.d/*/log/pg_upgrade_server.log');
ok(@server_logs, 'pg_upgrade kept its servers\' log');
my $server_log = join '', map { slurp_file($_) } @server_logs;
unlike($server_log, qr/mantis (loaded|replication listening|worker)/,
	'no mantis worker ran while pg_upgrade ran the servers (binary-upgrade mode)');
ok($server_log =~ /database system is ready|database system is shut down/,
	'that log is the servers\' own');

# first alone (no peers, no listener): what the upgrade alone kept
$new->append_conf('postgresql.conf', "mantis.listen = ''\nmantis.peers = ''\n");
$new->start;
wait_loaded($new);
like(sql($new, 'SHOW server_version_num'), qr/^$new_major/, "n1 now runs PostgreSQL $new_major");
is(sql($new, $catalog), $catalog_before, 'the extension\'s objects, version and grants are as they were');
is(live_dump($new), $before, 'every register is back from mantis_stores, with its HLC and node');
is(sql($new, q{SELECT mantis_get_int('up.typed')}), '7', 'a typed value reads as before');
is(sql($new, q{SELECT mantis_ttl('up.ttl') > '23 hours'}), 't', 'a TTL still counts down');
is(sql($new, q{SELECT coalesce(mantis_get('up.13'), '<gone>')}), '<gone>', 'a deleted key stays deleted');
$new->stop;

# --- back among its peers -----------------------------------------------------
# the settings n1 had (later lines win)
$new->append_conf('postgresql.conf', $settings);
$new->start;
wait_peers_connected(1, $new, $n2);
sql($new, q{SELECT mantis_set('up.after', 'written after the upgrade')});
ok(wait_converged($new, $n2), 'the upgraded n1 and n2 converge');
is(sql($new, q{SELECT mantis_get('up.1')}), 'overwritten on n2 while n1 was down',
	'n1 got the write n2 made while it was down');
is(sql($n2, q{SELECT mantis_get('up.after')}), 'written after the upgrade', 'n2 got the write made after the upgrade');
is(sql($new, q{SELECT key FROM mantis_registers(true) ORDER BY hlc DESC LIMIT 1}), 'up.after',
	'the write made after the upgrade has the greatest HLC of all');

$new->stop;
$n2->stop;
done_testing();
