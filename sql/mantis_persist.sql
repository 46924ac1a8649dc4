--
-- Persistence seen from SQL: mantis_flush(), the mantis_stores table,
-- mantis_decode() on good and hostile bytes, mantis_status.
--
-- The worker persists into mantis.database (postgres here).
\set home_db :DBNAME
\c postgres
CREATE EXTENSION mantis;
DO $$
BEGIN
  FOR i IN 1..100 LOOP
    EXIT WHEN (SELECT persistence = 'ready' FROM mantis_status);
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT persistence FROM mantis_status;

-- the table has the original's columns
\d mantis_stores

-- a flush writes what changed since the previous one, then nothing
SELECT mantis_flush() >= 0 AS flushed_earlier_writes;
SELECT mantis_set('p.one', '1') IS NULL AS pending, mantis_set('p.two', '2') IS NULL AS pending,
       mantis_delete('p.gone') AS deleted;
SELECT mantis_flush();
SELECT mantis_flush();

-- the newest row holds them, readable with mantis_decode()
SELECT d.key, d.value, d.node, d.deleted, d.hlc = r.hlc AS same_hlc
  FROM (SELECT registers FROM mantis_stores ORDER BY id DESC LIMIT 1) s,
       mantis_decode(s.registers) d
  JOIN mantis_registers(true) r USING (key)
 ORDER BY d.key;
SELECT node, clock ~ '^\d{4}-\d\d-\d\dT[0-9:.]+Z-[0-9a-f]{4}-[0-9a-f]{16}$' AS clock_is_hlc
  FROM mantis_stores ORDER BY id DESC LIMIT 1;
SELECT last_flush IS NOT NULL AS flushed, flush_failures, last_flush_error, stored_rows::int > 0 AS has_rows
  FROM mantis_status;

-- a snapshot holds at most what a row can: an empty one decodes to nothing
SELECT count(*) FROM mantis_decode('\x4d4e545301000000' || '\x00000000'::bytea);

-- hostile bytes: every fault is an ERROR with SQLSTATE 22P03, never a crash
SELECT * FROM mantis_decode('\x');
SELECT * FROM mantis_decode('\x4e4f5045010000000000000000');
SELECT * FROM mantis_decode('\x4d4e5453030000000000000000');
SELECT * FROM mantis_decode('\x4d4e5453010100000000000000');
SELECT * FROM mantis_decode('\x4d4e54530100000000000001');
SELECT * FROM mantis_decode('\x4d4e54530100000000000001ffffffff01');
SELECT * FROM mantis_decode('\x4d4e5453010000000000000100000010');
SELECT * FROM mantis_decode('\x4d4e545301000000000000010000001001000000000000000000000000000000000000000161');
SELECT * FROM mantis_decode('\x4d4e545301000000000000010000001604000000000000000000000000000000000000000161');
SELECT * FROM mantis_decode('\x4d4e545301000000000000010000001601000000000000000000000000000000000000000261');
SELECT * FROM mantis_decode('\x4d4e545301000000000000010000001601ffffffffffffffff00000000000000000000000161');
SELECT * FROM mantis_decode('\x4d4e545301000000000000020000002f01000000000000000000000000000000000000001a6162636465666768696a6b6c6d6e6f707172737475767778797a00000016010000000000');
SELECT * FROM mantis_decode('\x4d4e54530100000000000001000000190100000000000000000000000000000000ffffffff61');
SELECT * FROM mantis_decode('\x4d4e54530100000000000001000000150100000000000000000000000000000000000000006162');
SELECT * FROM mantis_decode('\x4d4e54530100000000000001000000170200000000000000000000000000000000000000016162');
SELECT * FROM mantis_decode('\x4d4e545301000001000000000000000000000000054e6f64652100');
SELECT * FROM mantis_decode((SELECT registers || '\x00'::bytea FROM mantis_stores ORDER BY id DESC LIMIT 1));
\set VERBOSITY sqlstate
SELECT * FROM mantis_decode('\x');
\set VERBOSITY default
-- invalid text in a well-formed snapshot is refused too (key 0xff)
SELECT * FROM mantis_decode('\x4d4e5453010000000000000100000016010000000000000000000000000000000000000001ff');

-- the table and the functions are not for PUBLIC
CREATE ROLE mantis_nobody LOGIN;
SET ROLE mantis_nobody;
SELECT count(*) FROM mantis_stores;
INSERT INTO mantis_stores (clock, node, registers) VALUES ('x', 'x', '\x');
SELECT mantis_flush();
SELECT * FROM mantis_decode('\x');
SELECT * FROM mantis_status;
RESET ROLE;
DROP ROLE mantis_nobody;

-- dumps include the table's rows
SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'mantis';

\c :home_db
