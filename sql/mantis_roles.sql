--
-- Group roles (mantis_reader, mantis_writer, mantis_monitor), what each
-- may call, and the typed monitoring views.  Roles are cluster-wide: the
-- ones made here are named regress_mantis_* and dropped at the end.
--

-- the three roles exist, cannot log in, and writer includes reader
SELECT rolname, rolcanlogin, rolsuper, rolinherit, rolcreaterole, rolbypassrls
  FROM pg_roles WHERE rolname IN ('mantis_reader', 'mantis_writer', 'mantis_monitor')
 ORDER BY rolname;
SELECT r.rolname AS role, m.rolname AS member_of
  FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.member JOIN pg_roles m ON m.oid = a.roleid
 WHERE r.rolname LIKE 'mantis\_%' OR m.rolname LIKE 'mantis\_%'
 ORDER BY 1, 2;

-- every privilege on the extension's objects, by grantee: the three roles
-- hold exactly these, and PUBLIC nothing
SELECT pg_describe_object(d.classid, d.objid, 0) AS object,
       coalesce(g.rolname, 'PUBLIC') AS grantee, a.privilege_type
  FROM pg_depend d
  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
  LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
  LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
  CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, c.relacl,
       acldefault(CASE WHEN p.oid IS NOT NULL THEN 'f' ELSE 'r' END::"char",
                  coalesce(p.proowner, c.relowner)))) a
  LEFT JOIN pg_roles g ON g.oid = a.grantee
 WHERE e.extname = 'mantis' AND d.deptype = 'e'
   AND NOT coalesce(g.rolsuper, false)
 ORDER BY grantee, object, privilege_type;

-- an application role of each kind, and one with none of them
CREATE ROLE regress_mantis_reader LOGIN IN ROLE mantis_reader;
CREATE ROLE regress_mantis_writer LOGIN IN ROLE mantis_writer;
CREATE ROLE regress_mantis_monitor LOGIN IN ROLE mantis_monitor;
CREATE ROLE regress_mantis_all LOGIN IN ROLE mantis_reader, mantis_writer, mantis_monitor;
CREATE ROLE regress_mantis_none LOGIN;

SELECT mantis_set('roles.text', 'hello') IS NULL AS pending,
       mantis_set('roles.int', 41) IS NULL AS pending,
       mantis_set('roles.json', '{"on": true, "n": 3}'::jsonb) IS NULL AS pending;

-- try(role, call): run a call as a role; 'ok', or the SQLSTATE it failed with
CREATE FUNCTION pg_temp.try(r name, call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SET ROLE %I', r);
  EXECUTE call;
  RESET ROLE;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;	-- the subtransaction's abort has undone SET ROLE
END $$;

SELECT call,
       pg_temp.try('regress_mantis_reader', call) AS reader,
       pg_temp.try('regress_mantis_writer', call) AS writer,
       pg_temp.try('regress_mantis_monitor', call) AS monitor,
       pg_temp.try('regress_mantis_all', call) AS "all",
       pg_temp.try('regress_mantis_none', call) AS "none"
  FROM (VALUES (1, $$SELECT mantis_get('roles.text')$$),
               (2, $$SELECT mantis_get('roles.none', 'default')$$),
               (3, $$SELECT mantis_get('roles.int', 0) + 1$$),
               (4, $$SELECT mantis_get_json('roles.json')$$),
               (5, $$SELECT * FROM mantis_get_many(ARRAY['roles.text', 'roles.int'])$$),
               (6, $$SELECT mantis_get_bool('roles.none', true)$$),
               (7, $$SELECT mantis_get_int('roles.int', 0) + 1$$),
               (8, $$SELECT mantis_get_float('roles.int')$$),
               (9, $$SELECT mantis_get_numeric('roles.int')$$),
               (10, $$SELECT mantis_get_timestamptz('roles.none', now())$$),
               (11, $$SELECT mantis_ttl_ms('roles.int')$$),
               (12, $$SELECT * FROM mantis_registers()$$),
               (13, $$SELECT * FROM mantis_registers(true)$$),
               (14, $$SELECT * FROM mantis_registers('roles.')$$),
               (15, $$SELECT mantis_set('roles.by_role', 'v')$$),
               (16, $$SELECT mantis_set('roles.by_role', 42)$$),
               (17, $$SELECT mantis_delete('roles.by_role')$$),
               (18, $$SELECT mantis_flush()$$),
               (19, $$SELECT * FROM mantis_status$$),
               (20, $$SELECT * FROM mantis_peers$$),
               (21, $$SELECT * FROM mantis_status()$$),
               (22, $$SELECT * FROM mantis_peers()$$),
               (23, $$SELECT * FROM mantis_decode('\x')$$),
               (24, $$SELECT * FROM mantis_stores$$),
               (25, $$INSERT INTO mantis_stores (clock, node, registers) VALUES ('x', 'x', '\x')$$),
               (26, $$GRANT mantis_writer TO regress_mantis_none$$),
               (27, $$SELECT mantis_last_commit()$$),
               (28, $$SELECT mantis_wait_for(mantis_last_commit(), '0')$$)) AS calls(n, call)
 ORDER BY n;

-- what a reader reads, and what it is told when it writes
SET ROLE regress_mantis_reader;
SELECT mantis_get('roles.text'), mantis_get('roles.none', 'default'),
       mantis_get('roles.int', 0) + 1 AS int_plus_one, mantis_get_json('roles.json') -> 'on' AS json_on;
SELECT mantis_get_bool('roles.none', true) AS bool, mantis_get_int('roles.int') + 1 AS int_plus_one,
       mantis_get_numeric('roles.int') / 2 AS half, mantis_ttl_ms('roles.int') IS NULL AS no_expiry;
SELECT * FROM mantis_get_many(ARRAY['roles.int', 'roles.none', 'roles.text']);
SELECT key, value FROM mantis_registers('roles.') ORDER BY key;
SELECT mantis_set('roles.text', 'overwritten');
SELECT mantis_delete('roles.text');
SELECT mantis_flush();
SELECT * FROM mantis_status;
RESET ROLE;

-- a writer sets, deletes and flushes; a monitor reads the views only
SET ROLE regress_mantis_writer;
SELECT mantis_set('roles.writer', 'w') IS NULL AS pending;
SELECT mantis_delete('roles.writer');
SELECT mantis_flush() >= 0 AS flushed;
SELECT mantis_get('roles.writer') IS NULL AS deleted;
SELECT count(*) FROM mantis_peers;
RESET ROLE;
SET ROLE regress_mantis_monitor;
SELECT node_name, persistence FROM mantis_status;
SELECT mantis_get('roles.text');
SELECT * FROM mantis_decode('\x');
SELECT count(*) FROM mantis_stores;
RESET ROLE;

-- DROP ROLE: membership alone does not hold a role back
DROP ROLE regress_mantis_reader, regress_mantis_writer, regress_mantis_monitor, regress_mantis_all;
-- a grant made directly (the 1.0 way) does, until DROP OWNED (or REVOKE)
GRANT EXECUTE ON FUNCTION mantis_get(text) TO regress_mantis_none;
DROP ROLE regress_mantis_none;
DROP OWNED BY regress_mantis_none;
DROP ROLE regress_mantis_none;
SELECT count(*) AS regress_roles_left FROM pg_roles WHERE rolname LIKE 'regress\_mantis\_%';

--
-- Typed monitoring: counters are bigint, times timestamptz
--
SELECT attrelid::regclass AS view, attname, format_type(atttypid, atttypmod) AS type
  FROM pg_attribute
 WHERE attrelid IN ('mantis_status'::regclass, 'mantis_peers'::regclass) AND attnum > 0
 ORDER BY attrelid::regclass::text, attnum;

SELECT pg_typeof(keys) AS keys, pg_typeof(last_flush) AS last_flush, pg_typeof(held_back) AS held_back
  FROM mantis_status;
SELECT mantis_flush() >= 0 AS flushed;
SELECT keys + 1 > 1 AS keys_plus_one, last_flush < now() AS flushed_before_now,
       now() - last_flush < interval '1 hour' AS recent,
       pg_size_pretty(memory_used + memory_available) AS store_memory,
       flush_failures = 0 AS no_failures, held_back = 0 AS none_held
  FROM mantis_status;
SELECT sum(keys + deleted_keys) = max(keys) + max(deleted_keys) AS sums FROM mantis_status;
SELECT count(*) AS peers, coalesce(sum(messages_in), 0) AS messages_in,
       coalesce(max(last_message), 'epoch') < now() AS last_message_past
  FROM mantis_peers;

-- the postgres_exporter queries of README "Monitoring", verbatim: the
-- TAP test 010 checks that they are the same text as there
SELECT node_name,
       (persistence = 'ready')::int AS ready,
       keys, deleted_keys, memory_used, memory_available,
       extract(epoch FROM last_flush) AS last_flush_time_seconds,
       last_flush_registers, flush_failures, stored_rows, held_back,
       coalesce(rejected_unknown, 0) AS rejected_unknown,
       coalesce(refused_connections, 0) AS refused_connections,
       coalesce(inbound_connections, 0) AS inbound_connections,
       coalesce(refused_over_limit, 0) AS refused_over_limit,
       (node_id_clash IS NOT NULL)::int AS node_id_clash,
       dead_records, dead_records_max, collapsed_records, leaves_with_bound,
       collected_records
  FROM mantis_status
\gset exporter_
SELECT :'exporter_node_name' = 'regress' AS label, :exporter_ready AS ready,
       :exporter_keys > 0 AS keys, :exporter_deleted_keys >= 0 AS deleted_keys,
       :exporter_memory_used > 0 AS memory_used, :exporter_memory_available > 0 AS memory_available,
       :exporter_last_flush_time_seconds > extract(epoch FROM now() - interval '1 hour') AS last_flush,
       :exporter_last_flush_registers >= 0 AS last_flush_registers, :exporter_flush_failures AS flush_failures,
       :exporter_stored_rows >= 0 AS stored_rows, :exporter_held_back AS held_back,
       :exporter_rejected_unknown AS rejected_unknown, :exporter_refused_connections AS refused_connections,
       :exporter_inbound_connections AS inbound_connections, :exporter_refused_over_limit AS refused_over_limit,
       :exporter_node_id_clash AS node_id_clash, :exporter_dead_records AS dead_records,
       :exporter_dead_records_max AS dead_records_max, :exporter_collapsed_records AS collapsed_records,
       :exporter_leaves_with_bound AS leaves_with_bound, :exporter_collected_records AS collected_records;
SELECT coalesce(node_name, endpoint, node_id) AS peer, direction,
       (state = 'connected')::int AS connected,
       messages_in, bytes_in, messages_out, bytes_out, dropped, registers_applied,
       rejected_malformed + rejected_skewed + rejected_stale + rejected_no_room
         + rejected_limits AS rejected,
       extract(epoch FROM last_message) AS last_message_time_seconds,
       clock_offset_ms,
       coalesce(reconnects, 0) AS reconnects,
       (listing IN ('here only', 'there only'))::int AS one_sided
  FROM mantis_peers;
