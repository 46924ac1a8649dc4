--
-- Readers named after their type (mantis_get_bool, mantis_get_int,
-- mantis_get_float, mantis_get_numeric, mantis_get_timestamptz): present,
-- absent, deleted, expired and pending keys, with and without a default;
-- untyped parameters resolving to them; 22P02 naming the key.
-- mantis_ttl_ms.  And a NULL value refused (22004) by every form of
-- mantis_set, buffered or not: it never deletes.
--
SET mantis.transactional = off;	-- each write applies at once

-- a flag reads as PostgreSQL's boolean input reads it
SELECT count(mantis_set('r.flag.' || n, v))
  FROM unnest(ARRAY['on', 'off', 'true', 'false', 'yes', 'no', '1', '0', 't', 'f',
                    'TRUE', ' Off ', 'y', 'n']) WITH ORDINALITY AS u(v, n);
SELECT '"' || v || '"' AS stored, mantis_get_bool('r.flag.' || n) AS flag
  FROM unnest(ARRAY['on', 'off', 'true', 'false', 'yes', 'no', '1', '0', 't', 'f',
                    'TRUE', ' Off ', 'y', 'n']) WITH ORDINALITY AS u(v, n)
 ORDER BY n;
SELECT mantis_set('r.flag.typed', false) IS NOT NULL AS applied;
SELECT mantis_get('r.flag.typed') AS stored, mantis_get_bool('r.flag.typed', true) AS flag;

-- present values of each type, the default not used
SELECT mantis_set('r.int', 40000) IS NOT NULL AS applied,
       mantis_set('r.big', 9007199254740993::bigint) IS NOT NULL AS applied,
       mantis_set('r.float', 0.1::float8) IS NOT NULL AS applied,
       mantis_set('r.num', 12345678901234567890.123456789) IS NOT NULL AS applied,
       mantis_set('r.ts', '2026-03-01 12:00:00+00'::timestamptz) IS NOT NULL AS applied;
SELECT mantis_get_int('r.int') AS int, mantis_get_int('r.big', 0) AS big,
       mantis_get_float('r.float', -1) AS float, mantis_get_numeric('r.num', 0) AS num,
       mantis_get_timestamptz('r.ts') = '2026-03-01 12:00:00+00' AS ts;
SELECT pg_typeof(mantis_get_bool('r.flag.1')) AS bool, pg_typeof(mantis_get_int('r.int')) AS int,
       pg_typeof(mantis_get_float('r.float')) AS float, pg_typeof(mantis_get_numeric('r.num')) AS num,
       pg_typeof(mantis_get_timestamptz('r.ts')) AS ts;
-- integer and float text read as numbers too; arithmetic without casts
SELECT mantis_get_float('r.int') / 8 AS float_of_int, mantis_get_numeric('r.float') * 10 AS numeric_of_float,
       mantis_get_int('r.int') * 1000000 AS int_times_a_million;

-- absent, deleted and expired keys read as the default, or NULL without one
SELECT mantis_set('r.gone', '5') IS NOT NULL AS applied, mantis_delete('r.gone') AS deleted;
SELECT mantis_set('r.brief', '5', interval '1 millisecond') IS NOT NULL AS applied;
DO $$
BEGIN
  FOR i IN 1..1000 LOOP
    EXIT WHEN mantis_get('r.brief') IS NULL;
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;
SELECT k AS key,
       mantis_get_bool(k) IS NULL AS bool_null, mantis_get_bool(k, true) AS bool_default,
       mantis_get_int(k) IS NULL AS int_null, mantis_get_int(k, 7) AS int_default,
       mantis_get_float(k) IS NULL AS float_null, mantis_get_float(k, 2.5) AS float_default,
       mantis_get_numeric(k) IS NULL AS num_null, mantis_get_numeric(k, 1.25) AS num_default,
       mantis_get_timestamptz(k) IS NULL AS ts_null,
       mantis_get_timestamptz(k, '2030-01-01 00:00:00+00') = '2030-01-01 00:00:00+00' AS ts_default
  FROM unnest(ARRAY['r.absent', 'r.gone', 'r.brief']) AS k;
-- a NULL default is a default like another: a present key still reads
SELECT mantis_get_bool('r.flag.1', NULL) AS flag, mantis_get_int('r.absent', NULL) IS NULL AS absent;
-- so it is for mantis_get(key, anyelement), kept for typed callers
SELECT mantis_get('r.int', NULL::int) AS int, mantis_get('r.absent', NULL::int) IS NULL AS absent;
-- a NULL key reads NULL, the default notwithstanding; the empty key is 22023
SELECT mantis_get_bool(NULL, true) IS NULL AS bool, mantis_get_int(NULL, 1) IS NULL AS int,
       mantis_get_timestamptz(NULL) IS NULL AS ts;
\set VERBOSITY sqlstate
SELECT mantis_get_bool('');
SELECT mantis_get_int(repeat('k', 1025));
\set VERBOSITY default

-- untyped parameters, as most drivers send them, take the reader's types:
-- an absent flag with default 'false' is the boolean false, where
-- mantis_get($1, $2) resolves to text and returns the string 'false'
PREPARE get_bool AS SELECT mantis_get_bool($1, $2);
PREPARE get_int AS SELECT mantis_get_int($1, $2);
PREPARE get_float AS SELECT mantis_get_float($1, $2);
PREPARE get_numeric AS SELECT mantis_get_numeric($1, $2);
PREPARE get_ts AS SELECT mantis_get_timestamptz($1, $2);
PREPARE get_text AS SELECT mantis_get($1, $2);
SELECT name, parameter_types FROM pg_prepared_statements ORDER BY name;
-- and the result types (psql's \gdesc prepares the query without running it)
SELECT mantis_get_bool($1, $2) \gdesc
SELECT mantis_get_int($1, $2), mantis_get_float($3, $4), mantis_get_numeric($5, $6),
       mantis_get_timestamptz($7, $8) \gdesc
SELECT mantis_get($1, $2) \gdesc
EXECUTE get_bool('r.absent', 'false');
EXECUTE get_bool('r.flag.1', 'false');
EXECUTE get_text('r.absent', 'false');
EXECUTE get_int('r.int', '0');
EXECUTE get_int('r.absent', '-1');
EXECUTE get_float('r.float', '0');
EXECUTE get_numeric('r.num', '0');
EXECUTE get_ts('r.absent', '2030-01-01 00:00:00+00');
-- untyped literals likewise
SELECT pg_typeof(mantis_get_bool('r.absent', 'false')) AS bool, mantis_get_bool('r.absent', 'false') AS value;
-- psycopg sends a Python int as the smallest type that holds it: a smallint
-- default fails mantis_get(key, anyelement) above 32767, not mantis_get_int
PREPARE get_small(text, smallint) AS SELECT mantis_get($1, $2);
PREPARE get_int_small(text, smallint) AS SELECT mantis_get_int($1, $2);
EXECUTE get_int_small('r.int', 0);
\set VERBOSITY sqlstate
EXECUTE get_small('r.int', 0);
\set VERBOSITY default
DEALLOCATE ALL;

-- a stored value not of the type: 22P02 (for timestamptz too, whose input
-- says 22007), the key named in the context, whatever the default
SELECT mantis_get_bool('r.int', false);
SELECT mantis_get_int('r.float');
SELECT mantis_get_float('r.flag.1');
SELECT mantis_get_numeric('r.flag.1');
SELECT mantis_get_timestamptz('r.int');
SELECT mantis_get_timestamptz('r.flag.1', now());
\set VERBOSITY sqlstate
SELECT mantis_get_bool('r.int', false);
SELECT mantis_get_int('r.flag.1');
SELECT mantis_get_int('r.float');
SELECT mantis_get_float('r.flag.1');
SELECT mantis_get_numeric('r.flag.1');
SELECT mantis_get_timestamptz('r.int');
SELECT mantis_get_timestamptz('r.flag.1', now());
-- an unknown time zone (22023 from the input) and a UTC offset past 15
-- hours (22009) are not timestamps either
SELECT mantis_set('r.zone', '2020-01-01 12:00 Mars/Olympus') IS NOT NULL AS applied,
       mantis_set('r.offset', '2020-01-01 12:00+25') IS NOT NULL AS applied;
SELECT mantis_get_timestamptz('r.zone');
SELECT mantis_get_timestamptz('r.offset');
-- out of the type's range: its own error (22003, 22008, also for a date
-- field out of range)
SELECT mantis_set('r.huge', '9223372036854775808') IS NOT NULL AS applied,
       mantis_set('r.far', '294277-01-01 00:00:00+00') IS NOT NULL AS applied,
       mantis_set('r.feb30', '2020-02-30') IS NOT NULL AS applied;
SELECT mantis_get_int('r.huge');
SELECT mantis_get_timestamptz('r.far');
SELECT mantis_get_timestamptz('r.feb30');
\set VERBOSITY default

-- a transaction's own pending writes and deletions first; ROLLBACK
-- discards them
RESET mantis.transactional;
BEGIN;
SELECT mantis_set('r.pending', 'yes') IS NULL AS pending, mantis_set('r.int', 41) IS NULL AS pending;
SELECT mantis_delete('r.flag.1') AS deleted;
SELECT mantis_get_bool('r.pending', false) AS own_write, mantis_get_int('r.int') + 1 AS own_int,
       mantis_get_bool('r.flag.1', false) AS own_deletion;
ROLLBACK;
SELECT mantis_get_bool('r.pending') IS NULL AS rolled_back, mantis_get_int('r.int') AS int,
       mantis_get_bool('r.flag.1') AS flag;

--
-- mantis_ttl_ms: the time left in milliseconds, with mantis_ttl's NULLs
--
SET mantis.transactional = off;
SELECT mantis_set('r.ttl', 'x', interval '1 hour') IS NOT NULL AS applied;
SELECT mantis_ttl_ms('r.ttl') BETWEEN 3500000 AND 3600000 AS about_an_hour,
       pg_typeof(mantis_ttl_ms('r.ttl')) AS type;
SELECT abs(mantis_ttl_ms('r.ttl') - extract(epoch FROM mantis_ttl('r.ttl')) * 1000) < 1000 AS as_mantis_ttl;
-- NULL: no expiry, absent, deleted, expired, a NULL key
SELECT k AS key, mantis_ttl_ms(k) IS NULL AS ttl_ms_null, mantis_ttl(k) IS NULL AS ttl_null
  FROM unnest(ARRAY['r.int', 'r.absent', 'r.gone', 'r.brief', NULL]) AS k;
-- pending writes: an expiry, a write without one, a deletion
RESET mantis.transactional;
BEGIN;
SELECT mantis_set('r.ttl.txn', 'x', interval '10 minutes') IS NULL AS pending,
       mantis_set('r.ttl', 'no expiry now') IS NULL AS pending;
SELECT mantis_ttl_ms('r.ttl.txn') BETWEEN 500000 AND 600000 AS ten_minutes,
       mantis_ttl_ms('r.ttl') IS NULL AS never;
SELECT mantis_delete('r.ttl.txn') AS deleted;
SELECT mantis_ttl_ms('r.ttl.txn') IS NULL AS deleted;
ROLLBACK;
SELECT mantis_ttl_ms('r.ttl') > 0 AS expiry_back, mantis_ttl_ms('r.ttl.txn') IS NULL AS never_written;
-- the empty key is 22023
\set VERBOSITY sqlstate
SELECT mantis_ttl_ms('');
\set VERBOSITY default

--
-- A NULL value is refused by every form of mantis_set, buffered or applied
-- at once: a driver's NULL never deletes
--
SELECT mantis_set('r.int', NULL);
-- sqlstate_of(call): 'ok', or the SQLSTATE the call failed with
CREATE FUNCTION pg_temp.sqlstate_of(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE call;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;
CREATE TEMP TABLE null_sets (n int, call text);
INSERT INTO null_sets VALUES
  (1, $$SELECT mantis_set('r.int', NULL)$$),
  (2, $$SELECT mantis_set('r.int', NULL::text)$$),
  (3, $$SELECT mantis_set('r.int', NULL::int)$$),
  (4, $$SELECT mantis_set('r.int', NULL::jsonb)$$),
  (5, $$SELECT mantis_set('r.int', NULL, interval '1 hour')$$),
  (6, $$SELECT mantis_set('r.int', NULL::boolean, ttl => interval '1 hour')$$),
  (7, $$SELECT mantis_set('r.int', NULL, NULL)$$),
  (8, $$SELECT mantis_set(key => 'r.int', value => NULL::numeric)$$),
  (9, $$SELECT mantis_set('r.int', '41')$$);
SHOW mantis.transactional;
SELECT n, call, pg_temp.sqlstate_of(call) AS buffered FROM null_sets ORDER BY n;
SET mantis.transactional = off;
SELECT n, call, pg_temp.sqlstate_of(call) AS applied_at_once FROM null_sets ORDER BY n;
-- untyped parameters, as drivers send a value they cannot encode
PREPARE set_param AS SELECT mantis_set($1, $2);
PREPARE set_param_ttl AS SELECT mantis_set($1, $2, $3);
\set VERBOSITY sqlstate
EXECUTE set_param('r.int', NULL);
EXECUTE set_param_ttl('r.int', NULL, '1 hour');
RESET mantis.transactional;
EXECUTE set_param('r.int', NULL);
BEGIN;
SELECT mantis_set('r.int', '42') IS NULL AS pending;
SELECT mantis_set('r.int', NULL);
ROLLBACK;
\set VERBOSITY default
DEALLOCATE ALL;
-- nothing was deleted: the last write that succeeded stands
SELECT mantis_get_int('r.int') AS int, mantis_ttl_ms('r.int') IS NULL AS no_expiry;
SELECT key, value FROM mantis_registers('r.int', true);
