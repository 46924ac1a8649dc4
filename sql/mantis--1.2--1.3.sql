/* mantis--1.2--1.3.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION mantis UPDATE TO '1.3'" to load this file. \quit

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

-- The time left in milliseconds, for drivers that cannot read an interval.
CREATE FUNCTION mantis_ttl_ms(key pg_catalog.text)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'mantis_ttl_ms'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

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
COMMENT ON FUNCTION mantis_ttl_ms(pg_catalog.text) IS
'the milliseconds left before the value of a key expires; NULL when it never expires or has no value';

REVOKE ALL ON FUNCTION mantis_get_bool(pg_catalog.text, pg_catalog.bool) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get_int(pg_catalog.text, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get_float(pg_catalog.text, pg_catalog.float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get_numeric(pg_catalog.text, pg_catalog.numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_get_timestamptz(pg_catalog.text, pg_catalog.timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION mantis_ttl_ms(pg_catalog.text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	mantis_get_bool(pg_catalog.text, pg_catalog.bool),
	mantis_get_int(pg_catalog.text, pg_catalog.int8),
	mantis_get_float(pg_catalog.text, pg_catalog.float8),
	mantis_get_numeric(pg_catalog.text, pg_catalog.numeric),
	mantis_get_timestamptz(pg_catalog.text, pg_catalog.timestamptz),
	mantis_ttl_ms(pg_catalog.text)
	TO mantis_reader;

-- A NULL value no longer deletes (the library refuses it, 22004, whatever
-- the definitions' version): the comments say so.
COMMENT ON FUNCTION mantis_set(pg_catalog.text, pg_catalog.text) IS
'set a key to a value (not NULL: mantis_delete deletes) on every mantis node: at COMMIT with mantis.transactional on (it returns NULL then), else at once, returning the HLC of the write';
COMMENT ON FUNCTION mantis_set(pg_catalog.text, anyelement) IS
'set a key to the text form of a value of any type (not NULL: mantis_delete deletes) on every mantis node';
