--
-- The change feed (1.4): mantis_changes(), mantis_wait(), mantis_cursor().
-- A snapshot, then what changed after a cursor (one row per key, as it is
-- now), under a prefix; writes of a transaction only after its COMMIT;
-- expiries as deletions; the cursor errors, with their SQLSTATEs.  No HLC
-- or cursor is printed: they differ from run to run.
--
SET TimeZone = 'UTC';
SHOW mantis.transactional;
CREATE TEMP TABLE cursors (name text PRIMARY KEY, c text NOT NULL);

-- a snapshot: every live register under the prefix, none of another
SELECT count(mantis_set(k, v)) AS pending_until_commit
  FROM (VALUES ('watch.a', '1'), ('watch.b', '2'), ('watch.c', '3'), ('watchx', 'x'),
               ('other.watch.a', 'o')) AS w(k, v);
SELECT mantis_delete('watch.c') AS deleted;
SELECT key, value, node, deleted, expires_at FROM mantis_changes(NULL, 'watch.') ORDER BY key;
SELECT key FROM mantis_changes(prefix => 'watch') ORDER BY key;
-- every row of one answer carries the same cursor
SELECT count(*) AS rows, count(DISTINCT cursor) AS cursors,
       bool_and(cursor LIKE 'mc1-%') AS cursor_text
  FROM mantis_changes(NULL, 'watch');

-- after a cursor: a set, a deletion, an overwrite (twice), a new key: one
-- row per key, as it is now
INSERT INTO cursors VALUES ('c1', mantis_cursor());
SELECT mantis_set('watch.a', '1b') IS NULL AS pending;
SELECT mantis_set('watch.a', '1c') IS NULL AS pending;
SELECT mantis_delete('watch.b') AS deleted;
SELECT mantis_set('watch.d', '4') IS NULL AS pending;
SELECT mantis_set('other.watch.b', 'o') IS NULL AS pending;
SELECT key, value, node, deleted
  FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c1'), 'watch.') ORDER BY key;
-- the prefix filters: one key, and '' (or NULL) for every key
SELECT key, value FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c1'), 'watch.a') ORDER BY key;
SELECT key, value FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c1')) ORDER BY key;
SELECT key FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c1'), NULL) ORDER BY key;
SELECT count(*) AS none FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c1'), 'watch.zzz');
-- the same cursor on every row; it is the current one, so nothing follows it
SELECT count(*) AS rows, count(DISTINCT cursor) AS cursors
  FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c1'), 'watch.');
INSERT INTO cursors
  SELECT 'c2', cursor FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c1'), 'watch.') LIMIT 1;
SELECT count(*) AS nothing_since FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c2'), 'watch.');
-- a cursor may be passed again: the same changes
SELECT count(*) AS again FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c1'), 'watch.');

-- a transaction's writes appear only after its COMMIT; a rolled-back one never
INSERT INTO cursors VALUES ('c3', mantis_cursor());
BEGIN;
SELECT mantis_set('watch.tx', 'committed') IS NULL AS pending, mantis_delete('watch.a') AS deleted;
SELECT count(*) AS before_commit FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c3'), 'watch.');
COMMIT;
SELECT key, value, deleted FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c3'), 'watch.') ORDER BY key;
BEGIN;
SELECT mantis_set('watch.rb', 'rolled back') IS NULL AS pending;
ROLLBACK;
BEGIN;
SELECT mantis_set('watch.sp', 'kept') IS NULL AS pending;
SAVEPOINT s;
SELECT mantis_set('watch.rb', 'rolled back too') IS NULL AS pending;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT key, value, deleted FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c3'), 'watch.') ORDER BY key;

-- an expiry appears as a deletion: from a cursor taken after the write
-- (the sweep's entry) and from one taken before it (the register as it
-- is now).  Waits for it, 10 s at most.
SET mantis.transactional = off;
INSERT INTO cursors VALUES ('c4', mantis_cursor());
SELECT mantis_set('watch.exp', 'brief', interval '500 milliseconds') IS NOT NULL AS applied;
INSERT INTO cursors VALUES ('c5', mantis_cursor());
SELECT key, value, deleted, expires_at IS NOT NULL AS expires
  FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c4'), 'watch.exp');
DO $$
DECLARE
  deadline timestamptz := clock_timestamp() + interval '10 seconds';
BEGIN
  LOOP
    EXIT WHEN (SELECT bool_and(deleted) FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c5'), 'watch.exp'));
    IF clock_timestamp() > deadline THEN
      RAISE EXCEPTION 'the expiry of watch.exp did not appear in 10 s';
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
END
$$;
SELECT key, value, deleted, expires_at FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c5'), 'watch.exp');
SELECT key, value, deleted, expires_at FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c4'), 'watch.exp');
SELECT count(*) AS not_in_a_snapshot FROM mantis_changes(NULL, 'watch.exp');

-- mantis_wait: at once when there are rows, none at a 0 or short timeout
INSERT INTO cursors VALUES ('c6', mantis_cursor());
SELECT mantis_set('watch.w', 'woken') IS NOT NULL AS applied;
SELECT clock_timestamp() AS t0 \gset
SELECT key, value, deleted FROM mantis_wait((SELECT c FROM cursors WHERE name = 'c6'), 'watch.', interval '30 seconds');
SELECT clock_timestamp() - :'t0' < interval '10 seconds' AS at_once;
SELECT count(*) AS none FROM mantis_wait(mantis_cursor(), 'watch.nothing.', interval '0');
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS none FROM mantis_wait(mantis_cursor(), 'watch.nothing.', interval '200 milliseconds');
SELECT clock_timestamp() - :'t0' >= interval '200 milliseconds' AS waited;
-- a change under another prefix does not end the wait
SELECT count(*) AS none
  FROM mantis_wait((SELECT c FROM cursors WHERE name = 'c6'), 'watch.nothing.', interval '100 milliseconds');
-- the rows of one wait carry one cursor, which follows them
SELECT count(*) AS rows, count(DISTINCT cursor) AS cursors
  FROM mantis_wait((SELECT c FROM cursors WHERE name = 'c1'), 'watch.');
SELECT count(*) AS nothing_since
  FROM mantis_wait((SELECT cursor FROM mantis_changes((SELECT c FROM cursors WHERE name = 'c6'), 'watch.') LIMIT 1),
                   'watch.', interval '0');
-- with no cursor, the snapshot at once
SELECT key FROM mantis_wait(NULL, 'watch.w');

-- a cursor of another run of this server (as after a restart) is answered
-- by a scan of the store, which must not miss a write of the same
-- millisecond as the cursor: twenty tries, each a cursor and a write at once
DO $$
DECLARE
  c text;
  other_run text;
  missed int := 0;
BEGIN
  FOR i IN 1 .. 20 LOOP
    PERFORM pg_sleep(0.002);	-- a millisecond with no HLC issued yet
    c := mantis_cursor();
    PERFORM mantis_set('watch.ms.' || i, 'same ms');
    other_run := overlay(c placing 'feedfeedfeedfeed' from 22 for 16);
    IF NOT EXISTS (SELECT FROM mantis_changes(other_run, 'watch.ms.' || i)) THEN
      missed := missed + 1;
    END IF;
  END LOOP;
  RAISE NOTICE 'writes missed by a scan: %', missed;
END
$$;
RESET mantis.transactional;

-- the errors: not a cursor (22023); one ahead of this server (22023); one
-- of a server that is not a peer of this one (MT001)
\set VERBOSITY sqlstate
SELECT * FROM mantis_changes('garbage');
SELECT * FROM mantis_wait('mc1-', 'watch.', interval '0');
SELECT * FROM mantis_changes(upper((SELECT c FROM cursors WHERE name = 'c1')));
SELECT * FROM mantis_changes(overlay((SELECT c FROM cursors WHERE name = 'c1') placing 'fffffffffffffff0' from 39 for 16));
SELECT * FROM mantis_changes(overlay((SELECT c FROM cursors WHERE name = 'c1') placing 'feedfeedfeedfeed' from 5 for 16));
SELECT * FROM mantis_wait(overlay((SELECT c FROM cursors WHERE name = 'c1') placing 'feedfeedfeedfeed' from 5 for 16));
SELECT * FROM mantis_wait(mantis_cursor(), 'watch.', interval '-1 second');
\set VERBOSITY default
DO $$
BEGIN
  PERFORM mantis_changes(overlay((SELECT c FROM cursors WHERE name = 'c1') placing 'feedfeedfeedfeed' from 5 for 16));
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE '%: %', SQLSTATE, SQLERRM;
END
$$;
SELECT * FROM mantis_changes('garbage');
