--
-- Transactional writes (mantis.transactional, on by default): buffered in
-- the session, seen by its own reads, applied at COMMIT under one HLC,
-- discarded by ROLLBACK and by ROLLBACK TO SAVEPOINT.
--
SHOW mantis.transactional;

-- a transaction sees its own writes; COMMIT applies them under one HLC
BEGIN;
SELECT mantis_set('x.a', '1') IS NULL AS pending, mantis_set('x.b', '2') IS NULL AS pending;
SELECT mantis_get('x.a'), mantis_get('x.b', 'none'), mantis_get('x.a', 0) + 1 AS typed;
SELECT key, value, hlc IS NULL AS hlc_at_commit, node FROM mantis_registers('x.') ORDER BY key;
SELECT * FROM mantis_get_many(ARRAY['x.a', 'x.b', 'x.c']);
COMMIT;
SELECT key, value FROM mantis_registers('x.') ORDER BY key;
SELECT count(DISTINCT hlc) AS one_hlc FROM mantis_registers('x.');

-- ROLLBACK discards every write, deletions too
BEGIN;
SELECT mantis_set('x.a', 'changed') IS NULL AS pending;
SELECT mantis_delete('x.b') AS deleted_live;
SELECT mantis_get('x.a'), mantis_get('x.b') IS NULL AS deleted_here;
SELECT * FROM mantis_get_many(ARRAY['x.a', 'x.b']);
ROLLBACK;
SELECT mantis_get('x.a'), mantis_get('x.b');

-- the last write of a key wins; a deleted key may be set again
BEGIN;
SELECT mantis_set('x.c', 'first') IS NULL, mantis_set('x.c', 'second') IS NULL;
SELECT mantis_delete('x.c') AS deleted_live, mantis_delete('x.c') AS again;
SELECT mantis_set('x.c', 'third') IS NULL AS pending;
COMMIT;
SELECT mantis_get('x.c');

-- savepoints: ROLLBACK TO discards what was written since; RELEASE keeps it
BEGIN;
SELECT mantis_set('s.a', 'outer') IS NULL AS pending;
SAVEPOINT one;
SELECT mantis_set('s.a', 'inner') IS NULL AS pending, mantis_set('s.b', 'inner') IS NULL AS pending;
SAVEPOINT two;
SELECT mantis_set('s.c', 'deepest') IS NULL AS pending;
RELEASE two;
SELECT mantis_get('s.a'), mantis_get('s.b'), mantis_get('s.c');
ROLLBACK TO one;
SELECT mantis_get('s.a'), mantis_get('s.b') IS NULL AS b_gone, mantis_get('s.c') IS NULL AS c_gone;
SAVEPOINT three;
SELECT mantis_set('s.d', 'kept') IS NULL AS pending;
RELEASE three;
COMMIT;
SELECT key, value FROM mantis_registers('s.') ORDER BY key;

-- a PL/pgSQL exception block is a savepoint too
DO $$
BEGIN
  PERFORM mantis_set('s.e', 'before');
  BEGIN
    PERFORM mantis_set('s.e', 'inside');
    PERFORM mantis_set('s.f', 'inside');
    RAISE EXCEPTION 'undo the block';
  EXCEPTION WHEN raise_exception THEN
    NULL;
  END;
END $$;
SELECT mantis_get('s.e'), mantis_get('s.f') IS NULL AS f_discarded;

-- a statement that fails part way leaves none of its writes
SELECT mantis_set('m.' || i, i) IS NULL, 1 / (3 - i) FROM generate_series(1, 5) i;
SELECT count(*) AS none_of_them FROM mantis_registers('m.');

-- a read-only transaction cannot write (25006)
BEGIN READ ONLY;
SELECT mantis_set('x.ro', 'no');
ROLLBACK;
BEGIN;
SET TRANSACTION READ ONLY;
\set VERBOSITY sqlstate
SELECT mantis_delete('x.a');
\set VERBOSITY default
ROLLBACK;
SET default_transaction_read_only = on;
SELECT mantis_set('x.ro', 'no');
RESET default_transaction_read_only;
SELECT mantis_get('x.a');

-- turning mantis.transactional off inside a transaction that has written
-- keeps buffering it, so a later write cannot overtake an earlier one
BEGIN;
SELECT mantis_set('o.a', 'buffered') IS NULL AS pending;
SET LOCAL mantis.transactional = off;
SELECT mantis_set('o.a', 'later') IS NULL AS still_pending;
ROLLBACK;
SELECT mantis_get('o.a') IS NULL AS all_discarded;

-- with it off, each write applies at once and survives ROLLBACK
SET mantis.transactional = off;
BEGIN;
SELECT mantis_set('o.b', 'immediate') IS NOT NULL AS applied;
ROLLBACK;
SELECT mantis_get('o.b');
RESET mantis.transactional;

-- two-phase commit cannot carry mantis writes
BEGIN;
SELECT mantis_set('x.2pc', 'no') IS NULL AS pending;
PREPARE TRANSACTION 'mantis_2pc';
SELECT mantis_get('x.2pc') IS NULL AS not_applied, count(*) AS prepared
  FROM pg_prepared_xacts WHERE gid = 'mantis_2pc';
-- without mantis writes it works as ever
BEGIN;
SELECT mantis_get('x.a');
PREPARE TRANSACTION 'mantis_2pc_read';
COMMIT PREPARED 'mantis_2pc_read';

-- the buffer holds one write per key and level, however many
-- subtransactions commit or roll back: a loop of exception blocks neither
-- piles up writes of one key nor keeps the bytes of rolled-back ones
BEGIN;
DO $$
BEGIN
	FOR i IN 1..20000 LOOP
		BEGIN
			PERFORM mantis_set('x.loop', i::text);
			PERFORM mantis_set('x.loop' || (i % 20), i::text);
		EXCEPTION WHEN others THEN NULL;
		END;
		BEGIN
			PERFORM mantis_set('x.gone', repeat('g', 100000));
			RAISE EXCEPTION 'roll back';
		EXCEPTION WHEN raise_exception THEN NULL;
		END;
	END LOOP;
END
$$;
SELECT sum(total_bytes) < 1024 * 1024 AS bounded
  FROM pg_backend_memory_contexts WHERE name = 'mantis pending writes';
SELECT mantis_get('x.loop'), mantis_get('x.loop7'), mantis_get('x.gone') IS NULL AS gone;
SAVEPOINT s;
SELECT mantis_set('x.loop', 'inner') IS NULL AS pending;
ROLLBACK TO s;
SELECT mantis_get('x.loop');
COMMIT;
SELECT mantis_get('x.loop'), mantis_get('x.loop19'), mantis_get('x.gone') IS NULL AS gone;
SET mantis.transactional = off;
SELECT count(mantis_delete(key)) FROM mantis_registers('x.loop');
RESET mantis.transactional;

-- a COMMIT that rewrites large values in place needs no room for them: the
-- store fits a new value beside them even when it could not fit them twice
SET mantis.transactional = off;
DO $$
DECLARE
	i int := 0;
BEGIN
	WHILE (SELECT memory_available FROM mantis_status) > 1300000 LOOP
		i := i + 1;
		PERFORM mantis_set('x.big' || i, repeat('a', 400000));
	END LOOP;
END
$$;
RESET mantis.transactional;
BEGIN;
SELECT count(*) > 2 AS several FROM mantis_registers('x.big'),
	LATERAL mantis_set(key, repeat('b', 400000));
SELECT mantis_set('x.bignew', repeat('c', 400000)) IS NULL AS pending;
COMMIT;
SELECT left(mantis_get('x.bignew'), 1), left(mantis_get('x.big1'), 1);
SET mantis.transactional = off;
SELECT count(mantis_delete(key)) > 2 AS cleaned FROM mantis_registers('x.big');
RESET mantis.transactional;
