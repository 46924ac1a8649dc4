/* mantis--1.4.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION mantis" to load this file. \quit

CREATE FUNCTION mantis_set(key pg_catalog.text, value pg_catalog.text)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_set'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- A value of any other type is stored as its text form; untyped literals,
-- untyped parameters and NULL resolve to mantis_set(text, text).  A NULL
-- value is refused (22004) by every form: mantis_delete deletes.
CREATE FUNCTION mantis_set(key pg_catalog.text, value anyelement)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_set_any'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- A value may be written with a time to live, after which it reads as
-- absent everywhere, as a deleted key does.
CREATE FUNCTION mantis_set(key pg_catalog.text, value pg_catalog.text, ttl pg_catalog.interval)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_set'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mantis_set(key pg_catalog.text, value anyelement, ttl pg_catalog.interval)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_set_any'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- STABLE: a call site may be evaluated once per statement (an index can
-- use it).  PARALLEL RESTRICTED: a transaction's own pending writes live
-- in its leader backend, which parallel workers cannot see.
CREATE FUNCTION mantis_get(key pg_catalog.text)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_get'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_get(key pg_catalog.text, "default" pg_catalog.text)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_get_default'
LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_get(key pg_catalog.text, "default" anyelement)
RETURNS anyelement
AS 'MODULE_PATHNAME', 'mantis_get_typed'
LANGUAGE C STABLE PARALLEL RESTRICTED;

-- Readers whose type is in their name: an untyped parameter (what most
-- drivers send) takes its type from the function, where mantis_get(key,
-- $2) would take text from it.  Not STRICT, as mantis_get(key, default):
-- a NULL default still reads a present key.
CREATE FUNCTION mantis_get_bool(key pg_catalog.text, "default" pg_catalog.bool DEFAULT NULL)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'mantis_get_bool'
LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_get_int(key pg_catalog.text, "default" pg_catalog.int8 DEFAULT NULL)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'mantis_get_int'
LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_get_float(key pg_catalog.text, "default" pg_catalog.float8 DEFAULT NULL)
RETURNS pg_catalog.float8
AS 'MODULE_PATHNAME', 'mantis_get_float'
LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_get_numeric(key pg_catalog.text, "default" pg_catalog.numeric DEFAULT NULL)
RETURNS pg_catalog.numeric
AS 'MODULE_PATHNAME', 'mantis_get_numeric'
LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_get_timestamptz(key pg_catalog.text, "default" pg_catalog.timestamptz DEFAULT NULL)
RETURNS pg_catalog.timestamptz
AS 'MODULE_PATHNAME', 'mantis_get_timestamptz'
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

CREATE FUNCTION mantis_delete(key pg_catalog.text)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'mantis_delete'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mantis_ttl(key pg_catalog.text)
RETURNS pg_catalog.interval
AS 'MODULE_PATHNAME', 'mantis_ttl'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

-- The same in milliseconds, for drivers that cannot read an interval.
CREATE FUNCTION mantis_ttl_ms(key pg_catalog.text)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'mantis_ttl_ms'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_expire(key pg_catalog.text, ttl pg_catalog.interval)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'mantis_expire'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

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

COMMENT ON FUNCTION mantis_set(pg_catalog.text, pg_catalog.text) IS
'set a key to a value (not NULL: mantis_delete deletes) on every mantis node: at COMMIT with mantis.transactional on (it returns NULL then), else at once, returning the HLC of the write';
COMMENT ON FUNCTION mantis_set(pg_catalog.text, anyelement) IS
'set a key to the text form of a value of any type (not NULL: mantis_delete deletes) on every mantis node';
COMMENT ON FUNCTION mantis_set(pg_catalog.text, pg_catalog.text, pg_catalog.interval) IS
'set a key to a value that expires ttl from now (NULL: never) on every mantis node';
COMMENT ON FUNCTION mantis_set(pg_catalog.text, anyelement, pg_catalog.interval) IS
'set a key to the text form of a value of any type, expiring ttl from now (NULL: never), on every mantis node';
COMMENT ON FUNCTION mantis_get(pg_catalog.text) IS
'the value of a key from local shared memory, or NULL';
COMMENT ON FUNCTION mantis_get(pg_catalog.text, pg_catalog.text) IS
'the value of a key, or the default when it has none';
COMMENT ON FUNCTION mantis_get(pg_catalog.text, anyelement) IS
'the value of a key as the type of the default, or the default when it has none';
COMMENT ON FUNCTION mantis_get_bool(pg_catalog.text, pg_catalog.bool) IS
'the value of a key as a boolean (on/off, true/false, yes/no, 1/0, t/f), or the default when it has none';
COMMENT ON FUNCTION mantis_get_int(pg_catalog.text, pg_catalog.int8) IS
'the value of a key as a bigint, or the default when it has none';
COMMENT ON FUNCTION mantis_get_float(pg_catalog.text, pg_catalog.float8) IS
'the value of a key as a double precision, or the default when it has none';
COMMENT ON FUNCTION mantis_get_numeric(pg_catalog.text, pg_catalog.numeric) IS
'the value of a key as a numeric, or the default when it has none';
COMMENT ON FUNCTION mantis_get_timestamptz(pg_catalog.text, pg_catalog.timestamptz) IS
'the value of a key as a timestamptz, or the default when it has none';
COMMENT ON FUNCTION mantis_get_json(pg_catalog.text) IS
'the value of a key as jsonb, or NULL';
COMMENT ON FUNCTION mantis_get_many(pg_catalog.text[]) IS
'a row (key, value) per key of the array, in its order; value NULL when absent';
COMMENT ON FUNCTION mantis_delete(pg_catalog.text) IS
'delete a key on every mantis node; true if a live value was deleted here';
COMMENT ON FUNCTION mantis_ttl(pg_catalog.text) IS
'the time left before the value of a key expires; NULL when it never expires or has no value';
COMMENT ON FUNCTION mantis_ttl_ms(pg_catalog.text) IS
'the milliseconds left before the value of a key expires; NULL when it never expires or has no value';
COMMENT ON FUNCTION mantis_expire(pg_catalog.text, pg_catalog.interval) IS
'give the value of a key a new expiry, ttl from now, on every mantis node; false if it has no value';
COMMENT ON FUNCTION mantis_registers(pg_catalog.bool) IS
'every register held by this server: key, value, HLC, writing node and expiry';
COMMENT ON FUNCTION mantis_registers(pg_catalog.text, pg_catalog.bool) IS
'the registers whose keys start with a prefix: key, value, HLC, writing node and expiry';

-- The store is shared by every database and role of the server: nobody
-- uses it until granted.
REVOKE ALL ON FUNCTION mantis_set(pg_catalog.text, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_set(pg_catalog.text, anyelement) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_set(pg_catalog.text, pg_catalog.text, pg_catalog.interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_set(pg_catalog.text, anyelement, pg_catalog.interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get(pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get(pg_catalog.text, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get(pg_catalog.text, anyelement) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get_bool(pg_catalog.text, pg_catalog.bool) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get_int(pg_catalog.text, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get_float(pg_catalog.text, pg_catalog.float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get_numeric(pg_catalog.text, pg_catalog.numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get_timestamptz(pg_catalog.text, pg_catalog.timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get_json(pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get_many(pg_catalog.text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_delete(pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_ttl(pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_ttl_ms(pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_expire(pg_catalog.text, pg_catalog.interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_registers(pg_catalog.bool) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_registers(pg_catalog.text, pg_catalog.bool) FROM PUBLIC;

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
	OUT refusal_horizon pg_catalog.timestamptz,
	OUT refused_collected pg_catalog.int8,
	OUT collection pg_catalog.text, OUT members pg_catalog.int4,
	OUT inbound_connections pg_catalog.int4, OUT refused_over_limit pg_catalog.int8,
	OUT node_id_clash pg_catalog.text,
	OUT dead_records pg_catalog.int8, OUT dead_records_max pg_catalog.int8,
	OUT collapsed_records pg_catalog.int8, OUT leaves_with_bound pg_catalog.int8,
	OUT collected_records pg_catalog.int8)
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

-- Persistence: the worker appends batches of registers here (see README,
-- "Persistence") and loads every row back at start.  Only the worker, as
-- superuser, writes it: a forged row would be loaded and replicated.
CREATE TABLE mantis_stores (
	id pg_catalog.int8 GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	clock pg_catalog.text NOT NULL,
	node pg_catalog.text NOT NULL,
	registers pg_catalog.bytea NOT NULL
);
CREATE INDEX mantis_stores_node_id ON mantis_stores (node, id);
-- registers are flushed every second: spend no CPU trying to compress them
ALTER TABLE mantis_stores ALTER COLUMN registers SET STORAGE EXTERNAL;

COMMENT ON TABLE mantis_stores IS
'batches of mantis registers flushed by the worker; loaded back at start';

SELECT pg_catalog.pg_extension_config_dump('mantis_stores', '');
SELECT pg_catalog.pg_extension_config_dump('mantis_stores_id_seq', '');
REVOKE ALL ON mantis_stores FROM PUBLIC;

CREATE FUNCTION mantis_flush()
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'mantis_flush'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION mantis_flush() IS
'write the registers changed since the last flush to mantis_stores now; returns how many';

REVOKE ALL ON FUNCTION mantis_flush() FROM PUBLIC;

CREATE FUNCTION mantis_decode(registers pg_catalog.bytea,
	OUT key pg_catalog.text, OUT value pg_catalog.text,
	OUT hlc pg_catalog.text, OUT node pg_catalog.text,
	OUT deleted pg_catalog.bool, OUT expires_at pg_catalog.timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mantis_decode'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION mantis_decode(pg_catalog.bytea) IS
'the registers in a mantis_stores.registers value, as rows';

REVOKE ALL ON FUNCTION mantis_decode(pg_catalog.bytea) FROM PUBLIC;

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
	OUT acknowledged pg_catalog.timestamptz, OUT rejected_collected pg_catalog.int8,
	OUT protocol pg_catalog.int4, OUT protocols pg_catalog.text,
	OUT repair_rounds pg_catalog.int8, OUT last_repair pg_catalog.timestamptz,
	OUT adopted pg_catalog.int8, OUT reconnects pg_catalog.int8,
	OUT listing pg_catalog.text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mantis_peers'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION mantis_peers() IS
'a row per replication peer of this server: state, traffic, rejections, clock offset, protocol version, repair rounds';

CREATE VIEW mantis_peers AS SELECT * FROM mantis_peers();

COMMENT ON VIEW mantis_peers IS
'a row per replication peer of this server: state, traffic, rejections, clock offset, protocol version, repair rounds';

REVOKE ALL ON FUNCTION mantis_peers() FROM PUBLIC;
REVOKE ALL ON mantis_peers FROM PUBLIC;

-- The change feed (1.4): what changed after a cursor, at once or as soon
-- as something does.  src/watch/feed.c says what a cursor promises.
CREATE FUNCTION mantis_changes(since pg_catalog.text DEFAULT NULL,
	prefix pg_catalog.text DEFAULT '',
	OUT key pg_catalog.text, OUT value pg_catalog.text,
	OUT hlc pg_catalog.text, OUT node pg_catalog.text,
	OUT deleted pg_catalog.bool, OUT expires_at pg_catalog.timestamptz,
	OUT cursor pg_catalog.text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mantis_changes'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_wait(since pg_catalog.text,
	prefix pg_catalog.text DEFAULT '',
	timeout pg_catalog.interval DEFAULT '30 seconds',
	OUT key pg_catalog.text, OUT value pg_catalog.text,
	OUT hlc pg_catalog.text, OUT node pg_catalog.text,
	OUT deleted pg_catalog.bool, OUT expires_at pg_catalog.timestamptz,
	OUT cursor pg_catalog.text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mantis_wait'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_cursor()
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_cursor'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION mantis_changes(pg_catalog.text, pg_catalog.text) IS
'the registers under a prefix that this server applied after a cursor (NULL: every live one), each with the cursor to pass next';
COMMENT ON FUNCTION mantis_wait(pg_catalog.text, pg_catalog.text, pg_catalog.interval) IS
'what mantis_changes returns, as soon as it returns a row; no rows at the timeout';
COMMENT ON FUNCTION mantis_cursor() IS
'the cursor of this server now: pass it to mantis_changes or mantis_wait to learn what changes after it';

REVOKE ALL ON FUNCTION mantis_changes(pg_catalog.text, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_wait(pg_catalog.text, pg_catalog.text, pg_catalog.interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_cursor() FROM PUBLIC;

CREATE FUNCTION mantis_cursor(since pg_catalog.text, prefix pg_catalog.text DEFAULT '')
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_cursor_after'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION mantis_cursor(pg_catalog.text, pg_catalog.text) IS
'a cursor past since for the prefix when nothing under it changed after since (since itself otherwise): keeps a quiet prefix''s cursor recent after an empty answer';

REVOKE ALL ON FUNCTION mantis_cursor(pg_catalog.text, pg_catalog.text) FROM PUBLIC;

-- Read your own writes on another server (1.4): a session's token, and a
-- wait on any server until it holds the writes through one.
-- src/api/tokens.c says what a token promises.
CREATE FUNCTION mantis_last_commit()
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_last_commit'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION mantis_wait_for(token pg_catalog.text,
	timeout pg_catalog.interval DEFAULT '30 seconds')
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'mantis_wait_for'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION mantis_last_commit() IS
'the token of this session''s last COMMIT that wrote to mantis (its HLC), or NULL; pass it to mantis_wait_for on any server';
COMMENT ON FUNCTION mantis_wait_for(pg_catalog.text, pg_catalog.interval) IS
'true as soon as this server holds every write through a token from mantis_last_commit; false at the timeout';

REVOKE ALL ON FUNCTION mantis_last_commit() FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_wait_for(pg_catalog.text, pg_catalog.interval) FROM PUBLIC;

-- Group roles, so that setting up an application is one GRANT:
--   mantis_reader   reads: mantis_get*, mantis_registers, mantis_ttl,
--                   mantis_ttl_ms, mantis_changes, mantis_wait, mantis_cursor,
--                   mantis_last_commit, mantis_wait_for
--   mantis_writer   mantis_reader, and writes: mantis_set, mantis_delete,
--                   mantis_expire, mantis_flush
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
	mantis_get_bool(pg_catalog.text, pg_catalog.bool),
	mantis_get_int(pg_catalog.text, pg_catalog.int8),
	mantis_get_float(pg_catalog.text, pg_catalog.float8),
	mantis_get_numeric(pg_catalog.text, pg_catalog.numeric),
	mantis_get_timestamptz(pg_catalog.text, pg_catalog.timestamptz),
	mantis_get_json(pg_catalog.text),
	mantis_get_many(pg_catalog.text[]),
	mantis_registers(pg_catalog.bool),
	mantis_registers(pg_catalog.text, pg_catalog.bool),
	mantis_ttl(pg_catalog.text),
	mantis_ttl_ms(pg_catalog.text)
	TO mantis_reader;
GRANT EXECUTE ON FUNCTION
	mantis_set(pg_catalog.text, pg_catalog.text),
	mantis_set(pg_catalog.text, anyelement),
	mantis_set(pg_catalog.text, pg_catalog.text, pg_catalog.interval),
	mantis_set(pg_catalog.text, anyelement, pg_catalog.interval),
	mantis_delete(pg_catalog.text),
	mantis_expire(pg_catalog.text, pg_catalog.interval),
	mantis_flush()
	TO mantis_writer;
GRANT EXECUTE ON FUNCTION
	mantis_changes(pg_catalog.text, pg_catalog.text),
	mantis_wait(pg_catalog.text, pg_catalog.text, pg_catalog.interval),
	mantis_cursor(),
	mantis_cursor(pg_catalog.text, pg_catalog.text)
	TO mantis_reader;
GRANT EXECUTE ON FUNCTION
	mantis_last_commit(),
	mantis_wait_for(pg_catalog.text, pg_catalog.interval)
	TO mantis_reader;
GRANT SELECT ON mantis_status, mantis_peers TO mantis_monitor;
GRANT EXECUTE ON FUNCTION mantis_status(), mantis_peers() TO mantis_monitor;
