--
-- Limits: key and value sizes, and a full store (test/regress.conf sets
-- mantis.max_keys = 2000 and mantis.store_memory = 4MB).
--
SET mantis.transactional = off;	-- each write applies (or fails) at once
SHOW mantis.max_key_size;
SHOW mantis.max_value_size;

-- keys up to the limit are fine; one byte more is refused with the limit
SELECT mantis_set(repeat('k', 1024), 'v') IS NOT NULL AS set;
SELECT mantis_get(repeat('k', 1024));
SELECT mantis_set(repeat('k', 1025), 'v');
SELECT mantis_get(repeat('k', 1025)) IS NULL AS absent;
SELECT mantis_delete(repeat('k', 1025));

-- the limit counts bytes, not characters
SELECT mantis_set(repeat('é', 513), 'v');

-- values likewise
SELECT mantis_set('big', repeat('v', 1048576)) IS NOT NULL AS set;
SELECT length(mantis_get('big'));
SELECT mantis_set('big', repeat('v', 1048577));
SELECT length(mantis_get('big')) AS still_the_old_value;
-- SQLSTATE 54000 program_limit_exceeded
\set VERBOSITY sqlstate
SELECT mantis_set(repeat('k', 1025), 'v');
SELECT mantis_set('big', repeat('v', 1048577));
\set VERBOSITY default

-- store memory: large values until it runs out; nothing stored is lost
\set VERBOSITY terse
DO $$
BEGIN
  FOR i IN 1..20 LOOP
    PERFORM mantis_set('mem.' || i, repeat(chr(64 + i), 1000000));
  END LOOP;
END $$;
\set VERBOSITY default
SELECT count(*) > 0 AS some_fit,
       bool_and(length(value) = 1000000 AND value = repeat(chr(64 + substr(key, 5)::int), 1000000)) AS intact
  FROM mantis_registers() WHERE key LIKE 'mem.%';
-- deleting frees the memory for new values
SELECT count(mantis_delete('mem.' || i)) FROM generate_series(1, 20) i;
SELECT mantis_set('mem.after', repeat('z', 1000000)) IS NOT NULL AS set_after_free;
SELECT mantis_delete('big') AS deleted;
SELECT mantis_delete('mem.after') AS deleted;

-- registers: fill up to mantis.max_keys, deletion markers included
DO $$
DECLARE
  n int := 0;
BEGIN
  LOOP
    PERFORM mantis_set('fill.' || n, 'x');
    n := n + 1;
  END LOOP;
EXCEPTION WHEN out_of_memory THEN
  RAISE NOTICE 'store full after % new keys: %', n > 0, SQLERRM;
END $$;
SELECT count(*) AS registers_held FROM mantis_registers(true);
SELECT mantis_set('one.more', 'x');
-- overwriting an existing key still works when full
SELECT mantis_set('fill.0', 'y') IS NOT NULL AS overwrite_when_full;
SELECT mantis_get('fill.0');
-- SQLSTATE 53200 out_of_memory
\set VERBOSITY sqlstate
SELECT mantis_set('one.more', 'x');
\set VERBOSITY default
-- a deletion keeps its register, as a marker, until the marker is flushed
-- and collected (at once, with no peers to wait for); then it is free again
SELECT mantis_delete('fill.1');
SELECT mantis_flush() IS NOT NULL AS flushed;
DO $$
BEGIN
  FOR i IN 1..600 LOOP
    EXIT WHEN (SELECT deleted_keys FROM mantis_status) = 0;
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT deleted_keys AS markers_left, collected_deletions > 0 AS collected FROM mantis_status;
SELECT mantis_set('one.more', 'x') IS NOT NULL AS set_in_the_freed_register;
-- the earlier deletions' markers were collected too: fill the store again
DO $$
BEGIN
  FOR i IN 1..100000 LOOP
    PERFORM mantis_set('refill.' || i, 'x');
  END LOOP;
EXCEPTION WHEN out_of_memory THEN NULL;
END $$;
SELECT mantis_set('two.more', 'x');
-- what was stored before the store filled up is all there
SELECT mantis_get('unicode'), length(mantis_get('long')), mantis_get('bulk.500');

-- mantis_status tells who this node is and how full the store is
SELECT node_name, length(node_id) AS id_digits, keys::int + deleted_keys::int AS registers,
       deleted_keys::int AS markers,
       memory_used::bigint > 0 AND memory_available::bigint > 0 AS memory_reported
  FROM mantis_status;

-- a transaction whose writes do not all fit fails at COMMIT, applying none
RESET mantis.transactional;
BEGIN;
SELECT mantis_set('fill.0', 'from a transaction') IS NULL AS pending,
       mantis_set('txn.new', 'x') IS NULL AS pending;
COMMIT;
SELECT mantis_get('fill.0') AS unchanged, mantis_get('txn.new') IS NULL AS not_applied;
-- one that writes more keys than the store may hold is refused at once
SELECT count(*) FROM (SELECT mantis_set('many.' || i, 'x') FROM generate_series(1, 2001) i) s;
