/* mantis--1.4--1.3.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION mantis UPDATE TO '1.3'" to load this file. \quit

-- Back to 1.3's definitions before going back to a 1.3 library (README,
-- "Upgrading from 1.3"): a 1.3 library refuses the 1.4 mantis_peers, whose
-- columns it does not know.  mantis_peers is made again without protocol,
-- protocols, repair_rounds, last_repair, adopted, reconnects and listing; grants given directly on it must be given again, and a
-- view of yours on it blocks the change, as for the update.  mantis_status
-- is made again as 1.3 had it, below (without collection, members,
-- inbound_connections, refused_over_limit, node_id_clash, dead_records,
-- dead_records_max, collapsed_records, leaves_with_bound and
-- collected_records, and with lifetime_horizon for refusal_horizon).
-- The change feed (mantis_changes, mantis_wait, mantis_cursor) goes, and
-- so do the tokens (mantis_last_commit, mantis_wait_for).
-- Nothing else differs.
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

GRANT SELECT ON mantis_peers TO mantis_monitor;
GRANT EXECUTE ON FUNCTION mantis_peers() TO mantis_monitor;

-- mantis_status as 1.3 defined it.
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

GRANT SELECT ON mantis_status TO mantis_monitor;
GRANT EXECUTE ON FUNCTION mantis_status() TO mantis_monitor;

-- the change feed came in 1.4
DROP FUNCTION mantis_changes(pg_catalog.text, pg_catalog.text);
DROP FUNCTION mantis_wait(pg_catalog.text, pg_catalog.text, pg_catalog.interval);
DROP FUNCTION mantis_cursor();
DROP FUNCTION mantis_cursor(pg_catalog.text, pg_catalog.text);

-- and so did the tokens of read-your-writes
DROP FUNCTION mantis_last_commit();
DROP FUNCTION mantis_wait_for(pg_catalog.text, pg_catalog.interval);
