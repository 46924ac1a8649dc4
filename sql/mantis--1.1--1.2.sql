/* mantis--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION mantis UPDATE TO '1.2'" to load this file. \quit

-- Expiry: a value may be written with a time to live, after which it reads
-- as absent everywhere, as a deleted key does.
CREATE FUNCTION mantis_set(key pg_catalog.text, value pg_catalog.text, ttl pg_catalog.interval)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_set'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mantis_set(key pg_catalog.text, value anyelement, ttl pg_catalog.interval)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_set_any'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mantis_ttl(key pg_catalog.text)
RETURNS pg_catalog.interval
AS 'MODULE_PATHNAME', 'mantis_ttl'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_expire(key pg_catalog.text, ttl pg_catalog.interval)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'mantis_expire'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION mantis_set(pg_catalog.text, pg_catalog.text, pg_catalog.interval) IS
'set a key to a value that expires ttl from now (NULL: never) on every mantis node';
COMMENT ON FUNCTION mantis_set(pg_catalog.text, anyelement, pg_catalog.interval) IS
'set a key to the text form of a value of any type, expiring ttl from now (NULL: never), on every mantis node';
COMMENT ON FUNCTION mantis_ttl(pg_catalog.text) IS
'the time left before the value of a key expires; NULL when it never expires or has no value';
COMMENT ON FUNCTION mantis_expire(pg_catalog.text, pg_catalog.interval) IS
'give the value of a key a new expiry, ttl from now, on every mantis node; false if it has no value';

REVOKE ALL ON FUNCTION mantis_set(pg_catalog.text, pg_catalog.text, pg_catalog.interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_set(pg_catalog.text, anyelement, pg_catalog.interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_ttl(pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_expire(pg_catalog.text, pg_catalog.interval) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION mantis_ttl(pg_catalog.text) TO mantis_reader;
GRANT EXECUTE ON FUNCTION
	mantis_set(pg_catalog.text, pg_catalog.text, pg_catalog.interval),
	mantis_set(pg_catalog.text, anyelement, pg_catalog.interval),
	mantis_expire(pg_catalog.text, pg_catalog.interval)
	TO mantis_writer;

-- mantis_registers (both) and mantis_decode gain an expires_at column.  A
-- function's result columns cannot change in place: each is made again
-- under its name, with the privileges the old one had (given to
-- applications too), and the old one, renamed out of the way, dropped.
ALTER FUNCTION mantis_registers(pg_catalog.bool) RENAME TO mantis_registers_1_1;
ALTER FUNCTION mantis_registers(pg_catalog.text, pg_catalog.bool) RENAME TO mantis_registers_1_1;
ALTER FUNCTION mantis_decode(pg_catalog.bytea) RENAME TO mantis_decode_1_1;

CREATE FUNCTION mantis_registers(include_deleted pg_catalog.bool DEFAULT false,
	OUT key pg_catalog.text, OUT value pg_catalog.text,
	OUT hlc pg_catalog.text, OUT node pg_catalog.text,
	OUT expires_at pg_catalog.timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mantis_registers'
LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_registers(prefix pg_catalog.text,
	include_deleted pg_catalog.bool DEFAULT false,
	OUT key pg_catalog.text, OUT value pg_catalog.text,
	OUT hlc pg_catalog.text, OUT node pg_catalog.text,
	OUT expires_at pg_catalog.timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mantis_registers_prefix'
LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_decode(registers pg_catalog.bytea,
	OUT key pg_catalog.text, OUT value pg_catalog.text,
	OUT hlc pg_catalog.text, OUT node pg_catalog.text,
	OUT deleted pg_catalog.bool, OUT expires_at pg_catalog.timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mantis_decode'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION mantis_registers(pg_catalog.bool) IS
'every register held by this server: key, value, HLC, writing node and expiry';
COMMENT ON FUNCTION mantis_registers(pg_catalog.text, pg_catalog.bool) IS
'the registers whose keys start with a prefix: key, value, HLC, writing node and expiry';
COMMENT ON FUNCTION mantis_decode(pg_catalog.bytea) IS
'the registers in a mantis_stores.registers value, as rows';

REVOKE ALL ON FUNCTION mantis_registers(pg_catalog.bool) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_registers(pg_catalog.text, pg_catalog.bool) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_decode(pg_catalog.bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	mantis_registers(pg_catalog.bool),
	mantis_registers(pg_catalog.text, pg_catalog.bool)
	TO mantis_reader;

-- Every other privilege the old functions held (an application's, or
-- PUBLIC's if someone gave it), given again on the new ones.
DO $privileges$
DECLARE
	f pg_catalog.text[];
	g record;
BEGIN
	FOREACH f SLICE 1 IN ARRAY ARRAY[
		['mantis_registers_1_1(pg_catalog.bool)', 'mantis_registers(pg_catalog.bool)'],
		['mantis_registers_1_1(pg_catalog.text, pg_catalog.bool)', 'mantis_registers(pg_catalog.text, pg_catalog.bool)'],
		['mantis_decode_1_1(pg_catalog.bytea)', 'mantis_decode(pg_catalog.bytea)']] LOOP
		FOR g IN
			SELECT x.grantee, x.is_grantable
			  FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) AS x
			 WHERE p.oid OPERATOR(pg_catalog.=) f[1]::pg_catalog.regprocedure::pg_catalog.oid
			   AND x.grantee OPERATOR(pg_catalog.<>) p.proowner
			   AND x.grantee OPERATOR(pg_catalog.<>) 'mantis_reader'::pg_catalog.regrole::pg_catalog.oid
		LOOP
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s',
				f[2]::pg_catalog.regprocedure,
				CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
					 ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END,
				CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
		END LOOP;
	END LOOP;
END
$privileges$;

DROP FUNCTION mantis_registers_1_1(pg_catalog.bool);
DROP FUNCTION mantis_registers_1_1(pg_catalog.text, pg_catalog.bool);
DROP FUNCTION mantis_decode_1_1(pg_catalog.bytea);

-- As in 1.0--1.1: the grants just given again would become initial
-- privileges (pg_init_privs), which pg_dump leaves out; keep there only the
-- owner's and the three roles' that a fresh install has.
UPDATE pg_catalog.pg_init_privs i
   SET initprivs = ARRAY(
		SELECT a FROM pg_catalog.unnest(i.initprivs) AS a
		 WHERE EXISTS (SELECT FROM pg_catalog.aclexplode(ARRAY[a]) AS x
					    WHERE x.grantee OPERATOR(pg_catalog.=) ANY (ARRAY[p.proowner,
							'mantis_reader'::pg_catalog.regrole::pg_catalog.oid,
							'mantis_writer'::pg_catalog.regrole::pg_catalog.oid,
							'mantis_monitor'::pg_catalog.regrole::pg_catalog.oid])))
  FROM pg_catalog.pg_proc p
 WHERE i.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
   AND i.objoid OPERATOR(pg_catalog.=) p.oid
   AND i.objsubid OPERATOR(pg_catalog.=) 0
   AND i.privtype OPERATOR(pg_catalog.=) 'e'
   AND p.oid OPERATOR(pg_catalog.=) ANY (ARRAY[
		'mantis_registers(pg_catalog.bool)'::pg_catalog.regprocedure,
		'mantis_registers(pg_catalog.text, pg_catalog.bool)'::pg_catalog.regprocedure,
		'mantis_decode(pg_catalog.bytea)'::pg_catalog.regprocedure]::pg_catalog.oid[]);

-- mantis_status and mantis_peers gain columns at their end: both are made
-- again, as in 1.0--1.1; grants given directly on them (rather than
-- through mantis_monitor) must be given again.
DROP VIEW mantis_status;
DROP FUNCTION mantis_status();
DROP VIEW mantis_peers;
DROP FUNCTION mantis_peers();

CREATE FUNCTION mantis_status(
	OUT node_name pg_catalog.text, OUT node_id pg_catalog.text,
	OUT keys pg_catalog.int8, OUT deleted_keys pg_catalog.int8,
	OUT memory_used pg_catalog.int8, OUT memory_available pg_catalog.int8,
	OUT persistence pg_catalog.text,
	OUT last_flush pg_catalog.timestamptz, OUT last_flush_registers pg_catalog.int8,
	OUT flush_failures pg_catalog.int8, OUT last_flush_error pg_catalog.text,
	OUT stored_rows pg_catalog.int8,
	OUT listen pg_catalog.text, OUT rejected_unknown pg_catalog.int8,
	OUT refused_connections pg_catalog.int8, OUT held_back pg_catalog.int8,
	OUT expired_keys pg_catalog.int8, OUT collected_deletions pg_catalog.int8,
	OUT collected_expired pg_catalog.int8,
	OUT collection_horizon pg_catalog.timestamptz,
	OUT lifetime_horizon pg_catalog.timestamptz,
	OUT refused_collected pg_catalog.int8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mantis_status'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION mantis_status() IS
'the state of this server''s mantis store and worker, as one row';

CREATE VIEW mantis_status AS SELECT * FROM mantis_status();

COMMENT ON VIEW mantis_status IS
'the state of this server''s mantis store and worker: identity, registers, memory, persistence';

REVOKE ALL ON FUNCTION mantis_status() FROM PUBLIC;
REVOKE ALL ON mantis_status FROM PUBLIC;

CREATE FUNCTION mantis_peers(
	OUT endpoint pg_catalog.text, OUT node_name pg_catalog.text,
	OUT node_id pg_catalog.text, OUT state pg_catalog.text,
	OUT since pg_catalog.timestamptz, OUT last_message pg_catalog.timestamptz,
	OUT messages_in pg_catalog.int8, OUT bytes_in pg_catalog.int8,
	OUT messages_out pg_catalog.int8, OUT bytes_out pg_catalog.int8,
	OUT dropped pg_catalog.int8, OUT registers_applied pg_catalog.int8,
	OUT rejected_malformed pg_catalog.int8, OUT rejected_skewed pg_catalog.int8,
	OUT rejected_stale pg_catalog.int8, OUT rejected_no_room pg_catalog.int8,
	OUT clock_offset_ms pg_catalog.int8, OUT last_error pg_catalog.text,
	OUT direction pg_catalog.text, OUT rejected_limits pg_catalog.int8,
	OUT repair_held pg_catalog.int8,
	OUT acknowledged pg_catalog.timestamptz, OUT rejected_collected pg_catalog.int8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mantis_peers'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION mantis_peers() IS
'a row per replication peer of this server: state, traffic, rejections, clock offset';

CREATE VIEW mantis_peers AS SELECT * FROM mantis_peers();

COMMENT ON VIEW mantis_peers IS
'a row per replication peer of this server: state, traffic, rejections, clock offset';

REVOKE ALL ON FUNCTION mantis_peers() FROM PUBLIC;
REVOKE ALL ON mantis_peers FROM PUBLIC;

GRANT SELECT ON mantis_status, mantis_peers TO mantis_monitor;
GRANT EXECUTE ON FUNCTION mantis_status(), mantis_peers() TO mantis_monitor;
