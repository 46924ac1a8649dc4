/* mantis--1.3--1.4.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION mantis UPDATE TO '1.4'" to load this file. \quit

-- mantis_peers gains seven columns at its end: the replication protocol
-- version in use with each peer, the versions the peer advertised, our
-- completed repair rounds with it and when the last one completed, the
-- registers adopted away from it (it had collected them), how many times
-- our connection to it was made again, and whether both list each other.
-- The function and its view are made again, as in 1.1--1.2; grants given
-- directly on them (rather than through mantis_monitor) must be given
-- again, and a view of yours on mantis_peers blocks the update.  The
-- library serves the 1.3 definition too, with its fewer columns.
DROP VIEW mantis_peers;
DROP FUNCTION mantis_peers();

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

GRANT SELECT ON mantis_peers TO mantis_monitor;
GRANT EXECUTE ON FUNCTION mantis_peers() TO mantis_monitor;

-- mantis_status: lifetime_horizon is now refusal_horizon (every collection
-- raises it, not the lifetime's alone), and two columns end it: how
-- deletion markers are collected now, and why not by acknowledgement, and
-- how many members this server counts; then the connections open on
-- mantis.listen and those refused past mantis.max_inbound_connections;
-- another server greeting with this one's node id; last, the records of
-- dead registers (held, their budget, collapsed into leaves' bounds,
-- leaves holding a bound, collected).
-- Made again, as mantis_peers.
DROP VIEW mantis_status;
DROP FUNCTION mantis_status();

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

GRANT SELECT ON mantis_status TO mantis_monitor;
GRANT EXECUTE ON FUNCTION mantis_status() TO mantis_monitor;

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

GRANT EXECUTE ON FUNCTION
	mantis_changes(pg_catalog.text, pg_catalog.text),
	mantis_wait(pg_catalog.text, pg_catalog.text, pg_catalog.interval),
	mantis_cursor(),
	mantis_cursor(pg_catalog.text, pg_catalog.text)
	TO mantis_reader;

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

GRANT EXECUTE ON FUNCTION
	mantis_last_commit(),
	mantis_wait_for(pg_catalog.text, pg_catalog.interval)
	TO mantis_reader;
