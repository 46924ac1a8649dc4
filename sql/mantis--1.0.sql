/* mantis--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION mantis" to load this file. \quit

CREATE FUNCTION mantis_set(key pg_catalog.text, value pg_catalog.text)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_set'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mantis_get(key pg_catalog.text)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'mantis_get'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE FUNCTION mantis_delete(key pg_catalog.text)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'mantis_delete'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mantis_registers(include_deleted pg_catalog.bool DEFAULT false,
	OUT key pg_catalog.text, OUT value pg_catalog.text,
	OUT hlc pg_catalog.text, OUT node pg_catalog.text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mantis_registers'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION mantis_set(pg_catalog.text, pg_catalog.text) IS
'set a key to a value (NULL deletes it) on every mantis node; returns the HLC of the write';
COMMENT ON FUNCTION mantis_get(pg_catalog.text) IS
'the value of a key from local shared memory, or NULL';
COMMENT ON FUNCTION mantis_delete(pg_catalog.text) IS
'delete a key on every mantis node; true if a live value was deleted here';
COMMENT ON FUNCTION mantis_registers(pg_catalog.bool) IS
'every register held by this server: key, value, HLC and writing node';

-- The store is shared by every database and role of the server: nobody
-- uses it until granted.
REVOKE ALL ON FUNCTION mantis_set(pg_catalog.text, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get(pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_delete(pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_registers(pg_catalog.bool) FROM PUBLIC;

CREATE FUNCTION mantis_status(
	OUT node_name pg_catalog.text, OUT node_id pg_catalog.text,
	OUT keys pg_catalog.text, OUT deleted_keys pg_catalog.text,
	OUT memory_used pg_catalog.text, OUT memory_available pg_catalog.text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mantis_status'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION mantis_status() IS
'the state of this server''s mantis store, as one row';

CREATE VIEW mantis_status AS SELECT * FROM mantis_status();

COMMENT ON VIEW mantis_status IS
'the state of this server''s mantis store: identity, registers held, memory';

REVOKE ALL ON FUNCTION mantis_status() FROM PUBLIC;
REVOKE ALL ON mantis_status FROM PUBLIC;
