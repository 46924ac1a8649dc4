/* mantis--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION mantis UPDATE TO '1.1'" to load this file. \quit

-- Typed values, defaults, JSON, batch and prefix reads.
-- A value of any other type is stored as its text form; untyped literals,
-- untyped parameters and NULL resolve to mantis_set(text, text).
CREATE FUNCTION mantis_set(key pg_catalog.text, value anyelement)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_set_any'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

ALTER FUNCTION mantis_get(pg_catalog.text) STABLE PARALLEL RESTRICTED;
ALTER FUNCTION mantis_registers(pg_catalog.bool) STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_get(key pg_catalog.text, "default" pg_catalog.text)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_get_default'
LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_get(key pg_catalog.text, "default" anyelement)
RETURNS anyelement
AS 'MODULE_PATHNAME', 'mantis_get_typed'
LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_get_json(key pg_catalog.text)
RETURNS pg_catalog.jsonb
AS 'MODULE_PATHNAME', 'mantis_get_json'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_get_many(keys pg_catalog.text[],
	OUT key pg_catalog.text, OUT value pg_catalog.text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mantis_get_many'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED ROWS 10;

CREATE FUNCTION mantis_registers(prefix pg_catalog.text,
	include_deleted pg_catalog.bool DEFAULT false,
	OUT key pg_catalog.text, OUT value pg_catalog.text,
	OUT hlc pg_catalog.text, OUT node pg_catalog.text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mantis_registers_prefix'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION mantis_set(pg_catalog.text, anyelement) IS
'set a key to the text form of a value of any type (NULL deletes it) on every mantis node';
COMMENT ON FUNCTION mantis_get(pg_catalog.text, pg_catalog.text) IS
'the value of a key, or the default when it has none';
COMMENT ON FUNCTION mantis_get(pg_catalog.text, anyelement) IS
'the value of a key as the type of the default, or the default when it has none';
COMMENT ON FUNCTION mantis_get_json(pg_catalog.text) IS
'the value of a key as jsonb, or NULL';
COMMENT ON FUNCTION mantis_get_many(pg_catalog.text[]) IS
'a row (key, value) per key of the array, in its order; value NULL when absent';
COMMENT ON FUNCTION mantis_registers(pg_catalog.text, pg_catalog.bool) IS
'the registers whose keys start with a prefix: key, value, HLC and writing node';

REVOKE ALL ON FUNCTION mantis_set(pg_catalog.text, anyelement) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get(pg_catalog.text, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get(pg_catalog.text, anyelement) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get_json(pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get_many(pg_catalog.text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_registers(pg_catalog.text, pg_catalog.bool) FROM PUBLIC;

-- mantis_status and mantis_peers: counters bigint, times timestamptz.  A
-- view's columns cannot change type in place: both are made again, and
-- grants on them must be given again (or given through mantis_monitor).
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
	OUT refused_connections pg_catalog.int8, OUT held_back pg_catalog.int8)
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
	OUT repair_held pg_catalog.int8)
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

-- Group roles, so that setting up an application is one GRANT:
--   mantis_reader   reads: mantis_get*, mantis_registers
--   mantis_writer   mantis_reader, and writes: mantis_set, mantis_delete, mantis_flush
--   mantis_monitor  the mantis_status and mantis_peers views
-- Roles belong to the whole server: they are made here when missing (the
-- extension in a second database reuses them) and DROP EXTENSION keeps them.
-- mantis_decode and mantis_stores are for superusers only.
DO $roles$
DECLARE
	r pg_catalog.text;
BEGIN
	FOREACH r IN ARRAY ARRAY['mantis_reader', 'mantis_writer', 'mantis_monitor'] LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
	IF NOT pg_catalog.pg_has_role('mantis_writer', 'mantis_reader', 'MEMBER') THEN
		GRANT mantis_reader TO mantis_writer;
	END IF;
END
$roles$;

GRANT EXECUTE ON FUNCTION
	mantis_get(pg_catalog.text),
	mantis_get(pg_catalog.text, pg_catalog.text),
	mantis_get(pg_catalog.text, anyelement),
	mantis_get_json(pg_catalog.text),
	mantis_get_many(pg_catalog.text[]),
	mantis_registers(pg_catalog.bool),
	mantis_registers(pg_catalog.text, pg_catalog.bool)
	TO mantis_reader;
GRANT EXECUTE ON FUNCTION
	mantis_set(pg_catalog.text, pg_catalog.text),
	mantis_set(pg_catalog.text, anyelement),
	mantis_delete(pg_catalog.text),
	mantis_flush()
	TO mantis_writer;
GRANT SELECT ON mantis_status, mantis_peers TO mantis_monitor;
GRANT EXECUTE ON FUNCTION mantis_status(), mantis_peers() TO mantis_monitor;
