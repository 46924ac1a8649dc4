# Upgrade from extension 1.0 (through 1.1, 1.2 and 1.3) to 1.4 with the 1.4
# library: the 1.0 SQL definitions still work on the new library (text
# monitoring columns included; a NULL value refused as by 1.3's); ALTER
# EXTENSION mantis UPDATE, from 1.0, from 1.1, from 1.2 and from 1.3, gives
# exactly the catalog of a fresh CREATE EXTENSION mantis (functions, views, columns,
# privileges, comments, pg_init_privs, what pg_dump writes), the privileges
# given on the functions 1.2 makes again included; every value written
# under 1.0 reads back, and after a restart, through 1.3's readers too; the group roles are made once per
# server, under a hostile extension schema too, reused by a second
# database and by DROP/CREATE EXTENSION, and enough for an application;
# a user view on mantis_status blocks the upgrade; README's
# postgres_exporter queries run as written.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(dirname);
use MantisTest;

my $listen = PostgreSQL::Test::Cluster::get_free_port();
my $nobody = PostgreSQL::Test::Cluster::get_free_port();    # a peer that never answers
my $node = PostgreSQL::Test::Cluster->new('up');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'mantis'
shared_buffers = 32MB
max_connections = 40
mantis.node_name = 'up'
mantis.listen = 'tcp://127.0.0.1:$listen'
mantis.peers = 'tcp://127.0.0.1:$nobody'
# the deletion markers the upgrade must keep stay markers: with records on
# (the default) a marker kept for the peer that never answers would become
# a record at once (R7)
mantis.max_dead_records = 0
});
$node->start;

sub sql { my ($db, $sql, @as) = @_; return $node->safe_psql($db, $sql, @as ? (extra_params => [ '-U', $as[0] ]) : ()) }

# fails(db, role, sql): the SQLSTATE the statement fails with as that role
# (undef: the superuser), or 'ok'
sub fails
{
	my ($db, $role, $statement) = @_;
	my ($rc, $out, $err) = $node->psql($db, "\\set VERBOSITY sqlstate\n$statement",
		extra_params => [ defined $role ? ('-U', $role) : () ]);
	return 'ok' if $rc == 0;
	return $err =~ /ERROR:\s+([0-9A-Z]{5})/ ? $1 : "failed: $err";
}

sub wait_ready
{
	my ($db) = @_;
	$node->poll_query_until($db, q{SELECT persistence = 'ready' FROM mantis_status})
	  or die 'the mantis worker did not become ready';
}

my $roles = q{SELECT count(*) FROM pg_roles WHERE rolname IN ('mantis_reader', 'mantis_writer', 'mantis_monitor')};

# --- 1.0, as released, on the new library ------------------------------------
sql('postgres', q{CREATE EXTENSION mantis VERSION '1.0'});
wait_ready('postgres');
is(sql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'mantis'}), '1.0', 'extension 1.0 installed');
is(sql('postgres', $roles), '0', '1.0 makes no roles');

# 5,000 keys: short, long, empty, unicode, quoted values; every 7th deleted,
# and one more
sql('postgres', q{
SELECT count(mantis_set('up.' || i,
	CASE WHEN i % 1000 = 1 THEN repeat('long' || i, 2500)
	     WHEN i % 1000 = 2 THEN ''
	     WHEN i % 1000 = 3 THEN 'grüße, 世界 ' || i
	     WHEN i % 1000 = 4 THEN 'it''s "quoted" ' || i
	     ELSE 'v' || i END))
  FROM generate_series(1, 5000) i});
sql('postgres', q{SELECT count(mantis_delete('up.' || i)) FROM generate_series(7, 5000, 7) i});
# A NULL value deleted under the 1.0 library; the new one refuses it through
# the 1.0 definition too
is(fails('postgres', undef, q{SELECT mantis_set('up.4999', NULL)}), '22004',
	'a NULL value is refused (22004) through the 1.0 mantis_set, and deletes nothing');
is(sql('postgres', q{SELECT mantis_get('up.4999')}), 'v4999', 'the key keeps its value');
sql('postgres', q{SELECT mantis_delete('up.4999')});
is(sql('postgres', q{SET mantis.transactional = off; SELECT mantis_set('up.hlc', 'h') ~ '^\d{4}-\d\d-\d\dT.*Z-[0-9a-f]{4}-[0-9a-f]{16}$'}),
	't', '1.0 mantis_set returns the HLC with mantis.transactional off');
is(sql('postgres', q{SELECT mantis_flush() >= 0}), 't', 'mantis_flush() works under 1.0');
my $dump = registers_dump($node);
my $live = sql('postgres', q{SELECT count(*) FROM mantis_registers()});
is($live, 5000 - 714 - 1 + 1, "$live live registers under 1.0");

# 1.0-style privileges, given function by function
sql('postgres', q{
CREATE ROLE app LOGIN;
CREATE ROLE monitoring LOGIN;
GRANT EXECUTE ON FUNCTION mantis_get(text), mantis_set(text, text), mantis_delete(text),
	mantis_registers(boolean), mantis_flush() TO app;
GRANT SELECT ON mantis_status, mantis_peers TO monitoring;
GRANT EXECUTE ON FUNCTION mantis_status(), mantis_peers() TO monitoring;
});
is(sql('postgres', q{SELECT mantis_get('up.1000')}, 'app'), 'v1000', 'app reads under 1.0');
is(sql('postgres', q{SELECT mantis_set('up.app', 'by app') IS NULL; SELECT mantis_get('up.app')}, 'app'),
	"t\nby app", 'app writes under 1.0');
$dump = registers_dump($node);

# 1.0's monitoring columns are text, and read right from the new library
$node->poll_query_until('postgres', q{SELECT last_flush IS NOT NULL FROM mantis_status})
  or die 'no flush';
is(sql('postgres', q{
SELECT string_agg(DISTINCT format_type(atttypid, atttypmod), ',') FROM pg_attribute
 WHERE attrelid IN ('mantis_status'::regclass, 'mantis_peers'::regclass) AND attnum > 0}),
	'text', 'under 1.0 every column of mantis_status and mantis_peers is text');
my $counts = sql('postgres', q{SELECT count(*) FILTER (WHERE value IS NOT NULL) || '|' || count(*) FILTER (WHERE value IS NULL) FROM mantis_registers(true)});
is(sql('postgres', q{
SELECT node_name, keys || '|' || deleted_keys,
       memory_used::bigint > 0, memory_available::bigint > 0, persistence,
       last_flush::timestamptz BETWEEN now() - interval '1 minute' AND now(),
       last_flush_registers::bigint >= 0, flush_failures, stored_rows::bigint > 0,
       listen, rejected_unknown, refused_connections, held_back
  FROM mantis_status}, 'monitoring'),
	"up|$counts|t|t|ready|t|t|0|t|tcp://127.0.0.1:$listen|0|0|0",
	'the 1.0 mantis_status (text columns) reads right with the new library, as monitoring');
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mantis_peers}) or die 'no peer row';
is(sql('postgres', q{
SELECT endpoint, state IN ('connecting', 'down'), since::timestamptz <= now(), last_message IS NULL,
       messages_in, bytes_in, dropped::bigint >= 0, rejected_limits, repair_held, direction
  FROM mantis_peers}, 'monitoring'),
	"tcp://127.0.0.1:$nobody|t|t|t|0|0|t|0|0|outbound",
	'and so does the 1.0 mantis_peers');

# --- the first upgrade makes the roles, under a hostile extension schema ----
# As in a database where PUBLIC may create in schema public (the default
# before PostgreSQL 15): an unprivileged role shadows, in the extension's
# own schema, what the scripts call, and logs every call.
sql('postgres', q{CREATE DATABASE hostile; CREATE ROLE hijacker LOGIN});
sql('hostile', q{CREATE EXTENSION mantis VERSION '1.0'; GRANT CREATE ON SCHEMA public TO hijacker});
sql('hostile', q{
CREATE TABLE public.calls (what text);
GRANT INSERT ON public.calls TO PUBLIC;
CREATE FUNCTION public.format(text, text) RETURNS text LANGUAGE sql AS
  $$ INSERT INTO public.calls VALUES ('format'); SELECT 'SELECT 1' $$;
CREATE FUNCTION public.format(text, name) RETURNS text LANGUAGE sql AS
  $$ INSERT INTO public.calls VALUES ('format'); SELECT 'SELECT 1' $$;
CREATE FUNCTION public.pg_has_role(text, text, text) RETURNS boolean LANGUAGE sql AS
  $$ INSERT INTO public.calls VALUES ('pg_has_role'); SELECT true $$;
CREATE FUNCTION public.pg_has_role(name, text, text) RETURNS boolean LANGUAGE sql AS
  $$ INSERT INTO public.calls VALUES ('pg_has_role'); SELECT true $$;
CREATE FUNCTION public.eq(name, text) RETURNS boolean LANGUAGE sql AS
  $$ INSERT INTO public.calls VALUES ('='); SELECT true $$;
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = text, FUNCTION = public.eq);
CREATE FUNCTION public.eq(name, name) RETURNS boolean LANGUAGE sql AS
  $$ INSERT INTO public.calls VALUES ('='); SELECT true $$;
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = public.eq);
}, 'hijacker');
sql('hostile', q{SET search_path = public, pg_catalog; ALTER EXTENSION mantis UPDATE});
is(sql('hostile', q{SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) ANY (ARRAY['mantis_reader', 'mantis_writer', 'mantis_monitor'])}),
	'3', 'the first ALTER EXTENSION mantis UPDATE of the server made the three roles');
is(sql('hostile', q{SELECT pg_catalog.string_agg(what, ',') FROM public.calls}), '',
	'without calling anything shadowed in the extension schema');

# A user view on mantis_status blocks the upgrade (its view is made again);
# the failed upgrade leaves 1.0 as it was
sql('postgres', q{CREATE DATABASE blocked});
sql('blocked', q{CREATE EXTENSION mantis VERSION '1.0'; CREATE VIEW my_keys AS SELECT keys FROM mantis_status});
my ($rc, $out, $err) = $node->psql('blocked', 'ALTER EXTENSION mantis UPDATE');
isnt($rc, 0, 'a user view on mantis_status blocks ALTER EXTENSION mantis UPDATE');
like($err, qr/cannot drop view mantis_status because other objects depend on it/, 'and says why');
is(sql('blocked', q{SELECT extversion FROM pg_extension WHERE extname = 'mantis'}), '1.0',
	'the failed upgrade left 1.0 as it was');
sql('blocked', q{DROP VIEW my_keys; ALTER EXTENSION mantis UPDATE});
is(sql('blocked', q{SELECT extversion FROM pg_extension WHERE extname = 'mantis'}), '1.4',
	'once the user view is dropped the upgrade goes through');
sql('blocked', q{DROP EXTENSION mantis});

# --- ALTER EXTENSION mantis UPDATE where the data is ---------------------------
my $role_oids = sql('postgres', q{SELECT string_agg(rolname || '=' || oid, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'mantis\_%'});
sql('postgres', q{SELECT mantis_flush()});
my $stores_oid = sql('postgres', q{SELECT 'mantis_stores'::regclass::oid});
my $stores_rows = sql('postgres', q{SELECT count(*) || ' ' || max(id) FROM mantis_stores});
sql('postgres', q{ALTER EXTENSION mantis UPDATE});
is(sql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'mantis'}), '1.4',
	'ALTER EXTENSION mantis UPDATE goes to 1.4');
is(sql('postgres', q{SELECT 'mantis_stores'::regclass::oid}), $stores_oid, 'mantis_stores is the same table');
is(sql('postgres', q{SELECT count(*) || ' ' || max(id) FROM mantis_stores}), $stores_rows,
	'holding the same rows: the upgrade wrote nothing');
is(registers_dump($node), $dump, 'every register (deletion markers, HLCs) reads back after the upgrade');

# the new library on the new definitions: the catalog of a fresh install
sql('postgres', q{CREATE DATABASE fresh});
sql('fresh', q{CREATE EXTENSION mantis});
is(sql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'mantis'}), '1.4', 'a fresh install is 1.4');

# Every member of the extension with what defines it: a function's whole
# definition (arguments, defaults, result, language, symbol, volatility,
# parallel safety, strictness, rows, cost), a relation's kind, view
# definition and column types; its comment; its privileges, those of the
# roles made outside the scripts (app, monitoring) left out; its
# pg_init_privs, which pg_dump compares against.
my $catalog = q{
SELECT pg_describe_object(m.classid, m.objid, m.objsubid) AS object,
       CASE m.classid
       WHEN 'pg_proc'::regclass THEN
         (SELECT pg_get_functiondef(p.oid) || ' volatility=' || p.provolatile::text || ' parallel=' || p.proparallel::text
                 || ' strict=' || p.proisstrict || ' setof=' || p.proretset || ' rows=' || p.prorows
                 || ' cost=' || p.procost || ' result=' || pg_get_function_result(p.oid)
            FROM pg_proc p WHERE p.oid = m.objid)
       WHEN 'pg_class'::regclass THEN
         (SELECT c.relkind::text || ' ' || coalesce(pg_get_viewdef(c.oid), '') || ' columns='
                 || (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                       || ' storage=' || a.attstorage::text || ' notnull=' || a.attnotnull
                                       || ' identity=' || a.attidentity::text, ', ' ORDER BY a.attnum)
                       FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
                 || ' indexes=' || coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), '; ' ORDER BY 1)
                                             FROM pg_index i WHERE i.indrelid = c.oid), '')
            FROM pg_class c WHERE c.oid = m.objid)
       ELSE '' END AS definition,
       coalesce(obj_description(m.objid, (SELECT relname FROM pg_class WHERE oid = m.classid)), '') AS comment,
       coalesce((SELECT string_agg(coalesce(pg_get_userbyid(nullif(x.grantee, 0)), 'PUBLIC') || ':' || x.privilege_type, ' ' ORDER BY 1)
                   FROM aclexplode(coalesce((SELECT proacl FROM pg_proc WHERE m.classid = 'pg_proc'::regclass AND oid = m.objid),
                                            (SELECT relacl FROM pg_class WHERE m.classid = 'pg_class'::regclass AND oid = m.objid))) x
                  WHERE pg_get_userbyid(x.grantee) NOT IN ('app', 'monitoring')), '') AS acl,
       coalesce((SELECT string_agg(i.privtype::text || i.initprivs::text, ' ') FROM pg_init_privs i
                  WHERE i.classoid = m.classid AND i.objoid = m.objid AND i.objsubid = m.objsubid), '') AS initprivs
  FROM pg_depend m JOIN pg_extension e ON m.refclassid = 'pg_extension'::regclass AND m.refobjid = e.oid
 WHERE e.extname = 'mantis' AND m.deptype = 'e'
UNION ALL
SELECT 'extension mantis', extversion || ' relocatable=' || extrelocatable || ' schema=' || extnamespace::regnamespace
       || ' config=' || extconfig::regclass[]::text || ' ' || extcondition::text, '', '', ''
  FROM pg_extension WHERE extname = 'mantis'
ORDER BY 1};

sub members
{
	my ($db) = @_;
	my %m;
	for my $row (split /\x1e/, $node->safe_psql($db, $catalog, extra_params => [ '-R', "\x1e", '-F', "\x1f" ]))
	{
		my ($object, @rest) = split /\x1f/, $row, -1;
		$m{$object} = join("\n", @rest);
	}
	return \%m;
}

# compare_members(db, what, reference): db's members against those of the
# reference database (default: "fresh", a fresh install of the latest version)
sub compare_members
{
	my ($db, $what, $reference) = @_;
	my ($got, $want) = (members($db), members($reference // 'fresh'));
	is(join(', ', sort keys %$got), join(', ', sort keys %$want), "$what: the same objects as a fresh install");
	for my $object (sort keys %$want)
	{
		is($got->{$object}, $want->{$object}, "$what: $object as in a fresh install");
	}
	return $want;
}

my $fresh = compare_members('postgres', 'upgraded');
is(scalar(grep { /^function / } keys %$fresh), 30, 'the fresh install has 30 functions');
is(join(', ', sort grep { /^(view|table) / } keys %$fresh), 'table mantis_stores, view mantis_peers, view mantis_status',
	'two views and the table');
compare_members('hostile', 'upgraded under a hostile schema');

# From 1.1 (through 1.2): mantis_registers (both) and mantis_decode are made
# again with an expires_at column; the privileges given on them stay
sql('postgres', q{CREATE DATABASE mid});
sql('mid', q{CREATE EXTENSION mantis VERSION '1.1'});
sql('mid', q{GRANT EXECUTE ON FUNCTION mantis_registers(text, boolean), mantis_decode(bytea) TO app;
GRANT EXECUTE ON FUNCTION mantis_registers(boolean) TO app WITH GRANT OPTION});
sql('mid', q{SET search_path = public, pg_catalog; ALTER EXTENSION mantis UPDATE});
is(sql('mid', q{SELECT extversion FROM pg_extension WHERE extname = 'mantis'}), '1.4', '1.1 updates to 1.4');
compare_members('mid', 'upgraded from 1.1');
is(sql('mid', q{SELECT string_agg(p.oid::regprocedure || ':' || x.privilege_type || ':' || x.is_grantable, ' ' ORDER BY p.oid::regprocedure::text)
  FROM pg_proc p, aclexplode(p.proacl) x WHERE x.grantee = 'app'::regrole}),
	'mantis_decode(bytea):EXECUTE:false mantis_registers(boolean):EXECUTE:true mantis_registers(text,boolean):EXECUTE:false',
	'the grants given under 1.1 on the functions made again are kept, grant option too');
is(sql('mid', q{SELECT count(*) FROM pg_proc WHERE proname LIKE 'mantis\_%\_1\_1'}), '0', 'the renamed 1.1 functions are gone');
is(sql('mid', q{SELECT count(*) >= 0 FROM mantis_registers('up.', true)}, 'app'), 't', 'app lists registers under 1.4');

# From 1.2 (through 1.3): the typed readers and mantis_ttl_ms are added, for
# mantis_reader; mantis_set's comments no longer say that NULL deletes
sql('postgres', q{CREATE DATABASE late});
sql('late', q{CREATE EXTENSION mantis VERSION '1.2'});
sql('late', q{GRANT EXECUTE ON FUNCTION mantis_get(text, anyelement) TO app});
is(sql('late', q{SELECT count(*) FROM pg_proc WHERE proname IN ('mantis_get_bool', 'mantis_ttl_ms')}), '0',
	'1.2 has no typed readers');
sql('late', q{SET search_path = public, pg_catalog; ALTER EXTENSION mantis UPDATE});
is(sql('late', q{SELECT extversion FROM pg_extension WHERE extname = 'mantis'}), '1.4', '1.2 updates to 1.4');
compare_members('late', 'upgraded from 1.2');
is(sql('late', q{SELECT mantis_get('up.7', 0), mantis_get('up.nothing', false)}, 'app'), '0|f',
	'a grant given under 1.2 stays');

# From 1.3 to 1.4: mantis_peers (function and view) is made again with the
# columns protocol, protocols, repair_rounds, last_repair, adopted, reconnects and listing; the 1.3 definition works on the 1.4
# library meanwhile, with its fewer columns
my $peers_columns = q{SELECT count(*) || ' ' || string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
  FILTER (WHERE attnum > 21) FROM pg_attribute WHERE attrelid = 'mantis_peers'::regclass AND attnum > 0};
sql('postgres', q{CREATE DATABASE recent});
sql('recent', q{CREATE EXTENSION mantis VERSION '1.3'});
is(sql('recent', $peers_columns), '23 acknowledged timestamp with time zone, rejected_collected bigint',
	'1.3: mantis_peers has 23 columns');
is(sql('recent', q{SELECT count(*) || ' ' || string_agg(state, ',') FROM mantis_peers}), '1 connecting',
	'and the 1.4 library fills them: the peer that never answers');
sql('recent', q{CREATE VIEW my_peers AS SELECT state FROM mantis_peers});
($rc, $out, $err) = $node->psql('recent', 'ALTER EXTENSION mantis UPDATE');
isnt($rc, 0, 'a user view on mantis_peers blocks the update from 1.3');
like($err, qr/cannot drop view mantis_peers because other objects depend on it/, 'and says why');
sql('recent', q{DROP VIEW my_peers});
sql('recent', q{GRANT EXECUTE ON FUNCTION mantis_get(text) TO app});
sql('recent', q{SET search_path = public, pg_catalog; ALTER EXTENSION mantis UPDATE});
is(sql('recent', q{SELECT extversion FROM pg_extension WHERE extname = 'mantis'}), '1.4', '1.3 updates to 1.4');
compare_members('recent', 'upgraded from 1.3');
is(sql('recent', $peers_columns),
	'30 acknowledged timestamp with time zone, rejected_collected bigint, protocol integer, protocols text, '
	  . 'repair_rounds bigint, last_repair timestamp with time zone, adopted bigint, reconnects bigint, listing text',
	'1.4: mantis_peers has protocol, protocols, repair_rounds, last_repair, adopted, reconnects and listing at its end');
is(sql('recent', q{SELECT state || ' ' || coalesce(protocol::text, 'NULL') || ' ' || coalesce(protocols, 'NULL')
  || ' ' || repair_rounds || ' ' || coalesce(last_repair::text, 'NULL') || ' ' || adopted FROM mantis_peers}),
	'connecting NULL NULL 0 NULL 0', 'a peer never heard from: protocol and protocols NULL, no repair round');
is(sql('recent', q{SELECT mantis_get('up.nothing') IS NULL}, 'app'), 't',
	'a grant given under 1.3 on another function stays');

# and back: ALTER EXTENSION mantis UPDATE TO '1.3' gives 1.3's catalog, for
# going back to a 1.3 library; then forward again
sql('postgres', q{CREATE DATABASE fresh13});
sql('fresh13', q{CREATE EXTENSION mantis VERSION '1.3'});
sql('recent', q{SET search_path = public, pg_catalog; ALTER EXTENSION mantis UPDATE TO '1.3'});
is(sql('recent', q{SELECT extversion FROM pg_extension WHERE extname = 'mantis'}), '1.3', '1.4 goes back to 1.3');
compare_members('recent', 'back from 1.4 to 1.3', 'fresh13');
is(sql('recent', $peers_columns), '23 acknowledged timestamp with time zone, rejected_collected bigint',
	'mantis_peers has its 23 columns of 1.3 again');
sql('recent', q{SET search_path = public, pg_catalog; ALTER EXTENSION mantis UPDATE});
is(sql('recent', q{SELECT extversion FROM pg_extension WHERE extname = 'mantis'}), '1.4', 'and forward to 1.4 again');
compare_members('recent', 'from 1.4 to 1.3 and back');
sql('fresh13', q{DROP EXTENSION mantis});
sql('postgres', q{DROP DATABASE fresh13});

# the monitoring views are typed now
is(sql('postgres', q{
SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute
 WHERE attrelid = 'mantis_status'::regclass AND attnum > 0}),
	'node_name text, node_id text, keys bigint, deleted_keys bigint, memory_used bigint, memory_available bigint, '
	. 'persistence text, last_flush timestamp with time zone, last_flush_registers bigint, flush_failures bigint, '
	. 'last_flush_error text, stored_rows bigint, listen text, rejected_unknown bigint, refused_connections bigint, held_back bigint, '
	. 'expired_keys bigint, collected_deletions bigint, collected_expired bigint, '
	. 'collection_horizon timestamp with time zone, refusal_horizon timestamp with time zone, refused_collected bigint, '
	. 'collection text, members integer, inbound_connections integer, refused_over_limit bigint, node_id_clash text, '
	. 'dead_records bigint, dead_records_max bigint, collapsed_records bigint, leaves_with_bound bigint, collected_records bigint',
	'mantis_status columns: bigint counters, a timestamptz time; 1.4 names the refusal horizon and adds collection, members, '
	  . 'inbound_connections, refused_over_limit, node_id_clash and the records of dead registers');
is(sql('postgres', q{SELECT dead_records || ' ' || dead_records_max || ' ' || collapsed_records || ' ' || leaves_with_bound
  || ' ' || collected_records FROM mantis_status}),
	'0 0 0 0 0', 'with mantis.max_dead_records 0 (set here) no record is held and there is no room for one');
is(sql('postgres', q{
SELECT string_agg(DISTINCT format_type(atttypid, atttypmod), ', ') FROM pg_attribute
 WHERE attrelid = 'mantis_peers'::regclass AND attnum > 0 AND attname IN ('since', 'last_message')}),
	'timestamp with time zone', 'mantis_peers times are timestamptz');
is(sql('postgres', q{
SELECT keys + deleted_keys = (SELECT count(*) FROM mantis_registers(true)), last_flush < now(),
       (SELECT sum(messages_out) >= 0 AND max(since) <= now() FROM mantis_peers)
  FROM mantis_status}),
	't|t|t', 'and compute: keys + deleted_keys, last_flush < now(), sum(messages_out), max(since)');

# nobody but superusers and the three roles: PUBLIC holds nothing
for my $db ('postgres', 'fresh', 'hostile', 'mid', 'late', 'recent')
{
	is(sql($db, q{
SELECT string_agg(pg_describe_object(m.classid, m.objid, 0), ', ')
  FROM pg_depend m JOIN pg_extension e ON m.refclassid = 'pg_extension'::regclass AND m.refobjid = e.oid
  LEFT JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
  LEFT JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
 WHERE e.extname = 'mantis' AND m.deptype = 'e'
   AND EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, c.relacl,
                 acldefault(CASE WHEN p.oid IS NULL THEN 'r' ELSE 'f' END::"char", coalesce(p.proowner, c.relowner)))) x
                WHERE x.grantee = 0)}), '', "$db: PUBLIC has no privilege on any mantis function, view or table");
}

# what pg_dump writes: no privilege statement for a fresh install; for the
# upgraded one exactly the grants given to app and monitoring that survived
sub dump_acl
{
	my ($db) = @_;
	my ($out, $err) = run_command([ 'pg_dump', '--schema-only', '-d', $node->connstr($db) ]);
	die "pg_dump $db failed: $err" if $err ne '';
	return join("\n", grep { /^(GRANT|REVOKE)/ } split /\n/, $out);
}
is(dump_acl('fresh'), '', 'pg_dump of a fresh install writes no GRANT or REVOKE');
is(dump_acl('postgres'), join("\n",
	'GRANT ALL ON FUNCTION public.mantis_delete(key text) TO app;',
	'GRANT ALL ON FUNCTION public.mantis_flush() TO app;',
	'GRANT ALL ON FUNCTION public.mantis_get(key text) TO app;',
	'GRANT ALL ON FUNCTION public.mantis_registers(include_deleted boolean, OUT key text, OUT value text, OUT hlc text, OUT node text, OUT expires_at timestamp with time zone) TO app;',
	'GRANT ALL ON FUNCTION public.mantis_set(key text, value text) TO app;'),
	'pg_dump of the upgraded database writes only the grants app was given');

# grants given directly on the two views (and their functions) are gone with
# them; those on the other functions stay
is(fails('postgres', 'monitoring', 'SELECT * FROM mantis_status'), '42501',
	'a direct 1.0 grant on mantis_status is gone: the view was made again');
is(sql('postgres', q{SELECT mantis_get('up.1000')}, 'app'), 'v1000', 'direct 1.0 grants on mantis_get stay');
sql('postgres', q{GRANT mantis_monitor TO monitoring});
is(sql('postgres', q{SELECT persistence FROM mantis_status}, 'monitoring'), 'ready',
	'GRANT mantis_monitor gives mantis_status back');

# --- the second database, and DROP/CREATE EXTENSION, reuse the roles ---------
my $oids_now = sql('postgres', q{SELECT string_agg(rolname || '=' || oid, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'mantis\_%'});
is($oids_now, $role_oids, 'the upgrade where roles existed, and CREATE EXTENSION in another database, reused them');
sql('fresh', q{DROP EXTENSION mantis});
is(sql('fresh', $roles), '3', 'DROP EXTENSION keeps the roles');
sql('fresh', q{CREATE EXTENSION mantis});
is(sql('postgres', q{SELECT string_agg(rolname || '=' || oid, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'mantis\_%'}),
	$role_oids, 'CREATE EXTENSION again reuses them');
is(sql('fresh', q{SELECT count(*) FROM pg_auth_members WHERE roleid = 'mantis_reader'::regrole AND member = 'mantis_writer'::regrole}),
	'1', 'mantis_writer is a member of mantis_reader once');
compare_members('postgres', 'after DROP/CREATE EXTENSION elsewhere');

# --- the new functions on the upgraded install, for a member of mantis_writer -
sql('postgres', q{CREATE ROLE app2 LOGIN; GRANT mantis_writer TO app2});
is(sql('postgres', q{SELECT mantis_set('up.int', 41) IS NULL, mantis_set('up.json', '{"a": [1, 2]}'::jsonb) IS NULL}, 'app2'),
	't|t', 'app2, granted only mantis_writer, sets typed values (pending until COMMIT)');
is(sql('postgres', q{
SELECT mantis_get('up.int', 0) + 1, mantis_get('up.nothing', 'dflt'), mantis_get('up.1000', 'dflt'),
       mantis_get_json('up.json') -> 'a' ->> 1, mantis_get('up.7') IS NULL}, 'app2'),
	'42|dflt|v1000|2|t', 'and reads them: typed default, text default, JSON, a deletion from 1.0');
is(sql('postgres', q{
SELECT mantis_get_int('up.int') + 1, mantis_get_bool('up.nothing', false), mantis_get_int('up.7', -1),
       mantis_get_numeric('up.int') * 2, mantis_get_float('up.nothing')}, 'app2'),
	'42|f|-1|82|', 'and through the 1.3 readers: a bigint, a boolean default, a deletion from 1.0 as the default, NULL');
is(sql('postgres', q{SET mantis.transactional = off; SELECT mantis_set('up.ttl', 'x', interval '1 hour') IS NOT NULL;
SELECT mantis_ttl_ms('up.ttl') BETWEEN 3500000 AND 3600000, mantis_ttl_ms('up.1000') IS NULL}, 'app2'),
	"t\nt|t", 'mantis_ttl_ms: the milliseconds left, NULL for a key that never expires');
is(sql('postgres', q{SELECT string_agg(key || '=' || coalesce(value, '-'), ',' ORDER BY ord)
  FROM mantis_get_many(ARRAY['up.3', 'up.7', 'up.8', 'up.none']) WITH ORDINALITY AS g(key, value, ord)}, 'app2'),
	'up.3=grüße, 世界 3,up.7=-,up.8=v8,up.none=-', 'mantis_get_many over keys written under 1.0');
is(sql('postgres', q{SELECT count(*), count(*) FILTER (WHERE value IS NULL) FROM mantis_registers('up.49', true)}, 'app2'),
	'111|19', 'mantis_registers(prefix, true): live registers and 1.0 deletion markers');
is(sql('postgres', q{BEGIN; SELECT mantis_set('up.rolled', 'back') IS NULL; ROLLBACK; SELECT mantis_get('up.rolled') IS NULL}, 'app2'),
	"t\nt", 'writes are transactional: ROLLBACK discards them');
is(sql('postgres', q{SELECT mantis_delete('up.app')}, 'app2'), 't', 'app2 deletes');
is(sql('postgres', q{SELECT mantis_flush() >= 0}, 'app2'), 't', 'and flushes');
is(fails('postgres', 'app2', 'SELECT * FROM mantis_status'), '42501', 'but cannot read mantis_status');
is(fails('postgres', 'app2', q{SELECT * FROM mantis_decode('\x')}), '42501', 'nor call mantis_decode');
is(fails('postgres', 'app2', 'SELECT count(*) FROM mantis_stores'), '42501', 'nor read mantis_stores');
is(fails('fresh', 'app2', q{SELECT mantis_get('up.1000')}), 'ok', 'mantis_writer works in the second database too');

# --- everything is still there after a restart --------------------------------
$dump = registers_dump($node);
$node->restart;
wait_ready('postgres');
is(registers_dump($node), $dump, 'after a restart every register is back, 1.0 and 1.3 writes alike');
is(sql('postgres', q{SELECT count(*) FROM generate_series(1, 5000) i WHERE i % 7 <> 0 AND i <> 4999
   AND mantis_get('up.' || i) = CASE WHEN i % 1000 = 1 THEN repeat('long' || i, 2500)
	     WHEN i % 1000 = 2 THEN ''
	     WHEN i % 1000 = 3 THEN 'grüße, 世界 ' || i
	     WHEN i % 1000 = 4 THEN 'it''s "quoted" ' || i
	     ELSE 'v' || i END}, 'app2'),
	5000 - 714 - 1, 'each value written under 1.0 reads back as written');

# --- README's postgres_exporter queries run as written, as mantis_monitor ----
my $readme = slurp_file(dirname(__FILE__) . '/../../README.md');
my ($yaml) = $readme =~ /^### Monitoring\n.*?^```yaml\n(.*?)^```/ms;
ok(defined $yaml, 'README has a Monitoring section with a queries.yaml');
my $regress = slurp_file(dirname(__FILE__) . '/../../sql/mantis_roles.sql');
my %queries;
my ($name, $in_query, $metric);
for (split /\n/, $yaml // '')
{
	if (/^(\w+):$/) { $name = $1; $queries{$name} = { query => '', metrics => [] }; $in_query = 0; next }
	if (/^  query: \|$/) { $in_query = 1; next }
	if ($in_query && s/^    //) { $queries{$name}{query} .= "$_\n"; next }
	$in_query = 0;
	if (/^    - (\w+):$/) { $metric = [$1]; push @{ $queries{$name}{metrics} }, $metric; next }
	if (/^        usage: "(\w+)"$/) { push @$metric, $1 }
}
is(join(',', sort keys %queries), 'mantis_peers,mantis_status', 'the queries.yaml has mantis_status and mantis_peers');
sql('postgres', q{CREATE ROLE exporter LOGIN; GRANT mantis_monitor TO exporter});
for my $q (sort keys %queries)
{
	(my $text = $queries{$q}{query}) =~ s/\n\z//;
	ok(index($regress, $text) >= 0, "$q: the query is in sql/mantis_roles.sql verbatim");
	my @metrics = @{ $queries{$q}{metrics} };
	my ($rc, $out, $err) = $node->psql('postgres', "$text;", extra_params => [ '-U', 'exporter', '-F', "\x1f", '-P', 'tuples_only=off', '-P', 'footer=off' ]);
	is($rc . $err, '0', "$q: runs as a member of mantis_monitor");
	my ($header, @rows) = split /\n/, $out;
	$header //= '';
	is($header, join("\x1f", map { $_->[0] } @metrics), "$q: returns exactly the columns its metrics name");
	cmp_ok(scalar(@rows), '>=', 1, "$q: and rows (the peer that never answers has one)");
	my @bad;
	for my $row (@rows)
	{
		my @v = split /\x1f/, $row, -1;
		for my $i (0 .. $#metrics)
		{
			my ($col, $usage) = @{ $metrics[$i] };
			# a NULL gauge is exported as NaN; a counter must be a number
			push @bad, "$col=$v[$i] ($usage)"
			  unless $usage eq 'LABEL' ? $v[$i] ne ''
			  : $usage eq 'GAUGE' ? $v[$i] =~ /^(-?\d+(\.\d+)?)?$/
			  : $usage eq 'COUNTER' && $v[$i] =~ /^\d+$/;
		}
	}
	is(join(', ', @bad), '', "$q: a label in every LABEL column, a number in every GAUGE (or NULL) and COUNTER (" . scalar(@rows) . ' rows)');
}

# --- with no extension left, the full script makes the roles again -----------
for my $db ('postgres', 'fresh', 'hostile', 'mid', 'late', 'recent')
{
	sql($db, q{DROP OWNED BY app, app2, monitoring, exporter; DROP EXTENSION mantis});
}
sql('postgres', q{DROP ROLE mantis_reader, mantis_writer, mantis_monitor});
is(sql('postgres', $roles), '0', 'with the extension dropped everywhere the roles can be dropped');
sql('hostile', q{SET search_path = public, pg_catalog; CREATE EXTENSION mantis});
is(sql('hostile', $roles), '3', 'CREATE EXTENSION makes them again');
is(sql('hostile', q{SELECT count(*) FROM pg_auth_members WHERE roleid = 'mantis_reader'::regrole AND member = 'mantis_writer'::regrole}),
	'1', 'with mantis_writer a member of mantis_reader');
is(sql('hostile', q{SELECT pg_catalog.string_agg(what, ',') FROM public.calls}), '',
	'the full script called nothing shadowed in the extension schema either');
sql('fresh', q{CREATE EXTENSION mantis});
compare_members('hostile', 'installed under a hostile schema');

unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal/, 'no crash in the log');
$node->stop;
done_testing();
