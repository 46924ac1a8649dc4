--
-- Typed values: any scalar is stored as its text form (what a cast to text
-- gives) and read back as the type of a default; JSON; batch and prefix
-- reads; how calls resolve; volatility.
--
SET TimeZone = 'UTC';

-- numbers, booleans, JSON, times, arrays: their text form is stored
SELECT mantis_set('t.int', 42) IS NULL AS pending,
       mantis_set('t.big', 9007199254740993::bigint) IS NULL AS pending,
       mantis_set('t.num', 2.50) IS NULL AS pending,
       mantis_set('t.float', 0.1::float8) IS NULL AS pending,
       mantis_set('t.true', true) IS NULL AS pending,
       mantis_set('t.false', false) IS NULL AS pending,
       mantis_set('t.json', '{"b": [1, 2], "a": null}'::jsonb) IS NULL AS pending,
       mantis_set('t.time', '2026-12-01 10:00:00+00'::timestamptz) IS NULL AS pending,
       mantis_set('t.arr', ARRAY[1, 2, 3]) IS NULL AS pending,
       mantis_set('t.uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid) IS NULL AS pending,
       mantis_set('t.bytes', '\x00ff10'::bytea) IS NULL AS pending;
SELECT key, value FROM mantis_registers('t.') ORDER BY key;

-- read back typed: the default gives the type, and is returned when absent
SELECT mantis_get('t.int', 0) + 1 AS plus_one, pg_typeof(mantis_get('t.int', 0));
SELECT mantis_get('t.big', 0::bigint), mantis_get('t.num', 0.0) * 2 AS doubled;
SELECT mantis_get('t.true', false), mantis_get('t.false', true), pg_typeof(mantis_get('t.true', false));
SELECT mantis_get('t.time', now()) = '2026-12-01 10:00:00+00' AS same_instant;
SELECT mantis_get('t.arr', '{}'::int[]) AS arr, (mantis_get('t.arr', '{}'::int[]))[2] AS second;
SELECT mantis_get('t.bytes', ''::bytea) = '\x00ff10'::bytea AS bytes_round_trip;
SELECT mantis_get('t.absent', 100) AS default_int, mantis_get('t.absent', false) AS default_bool,
       mantis_get('t.absent', 'fallback') AS default_text, mantis_get('t.absent', NULL::int) IS NULL AS null_default;
SELECT pg_typeof(mantis_get('t.absent', 'fallback')) AS untyped_default;
-- a domain over boolean is a boolean too
CREATE DOMAIN flag AS boolean;
SELECT mantis_set('t.domain', true::flag) IS NULL AS pending;
SELECT mantis_get('t.domain') AS domain_text, mantis_get('t.domain', false::flag) AS domain_typed;
DROP DOMAIN flag;
-- the text forms a boolean accepts: a flag set to 'on' reads as true
SELECT mantis_set('t.flag', 'on') IS NULL AS pending;
SELECT mantis_get('t.flag', false) AS flag_on, mantis_get('t.flag') AS as_text;
-- a NULL key reads NULL, whatever the default
SELECT mantis_get(NULL, 5) IS NULL AS null_key, mantis_get(NULL, 'x') IS NULL AS null_key_text;

-- a stored value that is not of the type asked for: 22P02, naming the key
SELECT mantis_get('t.json', 0);
SELECT mantis_get('t.num', false);
\set VERBOSITY sqlstate
SELECT mantis_get('t.json', 0);
\set VERBOSITY default

-- JSON: set a jsonb, read it as jsonb
SELECT mantis_get_json('t.json') -> 'b' ->> 1 AS second, jsonb_typeof(mantis_get_json('t.json'));
SELECT mantis_get_json('t.int') AS number_is_json, mantis_get_json('t.absent') IS NULL AS absent;
SELECT mantis_set('t.json2', '{"k": "v"}') IS NULL AS pending;  -- untyped: stored as given
SELECT mantis_get_json('t.json2') ->> 'k' AS k;
SELECT mantis_get_json('t.flag');
\set VERBOSITY sqlstate
SELECT mantis_get_json('t.flag');
\set VERBOSITY default

-- NULL of any type is refused, as with text: it never deletes
SELECT mantis_set('t.int', NULL::int);
SELECT mantis_get('t.int', 0) AS still_set;
SELECT mantis_delete('t.int');
SELECT mantis_get('t.int') IS NULL AS deleted;

-- untyped parameters resolve to mantis_set(text, text), as drivers send them
PREPARE set_untyped AS SELECT mantis_set($1, $2);
PREPARE get_untyped AS SELECT mantis_get($1, $2);
SELECT name, parameter_types FROM pg_prepared_statements WHERE name LIKE '%untyped' ORDER BY name;
EXECUTE set_untyped('t.param', '7');
EXECUTE get_untyped('t.param', '0');
EXECUTE set_untyped('t.param', NULL);
SELECT mantis_delete('t.param');
EXECUTE get_untyped('t.param', 'gone');
-- typed parameters (an int from a driver) take the anyelement versions
PREPARE set_int(text, int) AS SELECT mantis_set($1, $2);
EXECUTE set_int('t.param', 8);
PREPARE get_int(text, int) AS SELECT mantis_get($1, $2) + 1;
EXECUTE get_int('t.param', 0);
EXECUTE set_int('t.param', NULL);
SELECT mantis_delete('t.param');
EXECUTE get_int('t.param', 41);
DEALLOCATE ALL;

-- batch read: a row per element, in order, NULL value when absent
SELECT mantis_set('b.1', 'one') IS NULL AS pending, mantis_set('b.2', 'two') IS NULL AS pending;
SELECT * FROM mantis_get_many(ARRAY['b.2', 'b.absent', NULL, 'b.1', 'b.2']) WITH ORDINALITY;
SELECT count(*) FROM mantis_get_many('{}');
SELECT * FROM mantis_get_many(NULL);
SELECT * FROM mantis_get_many(ARRAY['b.1', '']);

-- prefix listing; the empty prefix and NULL (as in 1.0) list every key
SELECT key, value FROM mantis_registers('b.') ORDER BY key;
SELECT (SELECT count(*) FROM mantis_registers('')) = (SELECT count(*) FROM mantis_registers()) AS empty_prefix_lists_all;
SELECT (SELECT count(*) FROM mantis_registers(NULL)) = (SELECT count(*) FROM mantis_registers()) AS null_lists_all;
SELECT count(*) FROM mantis_registers('no such prefix');
SELECT mantis_delete('b.2');
SELECT key FROM mantis_registers('b.') ORDER BY key;
SELECT key, value IS NULL AS deleted FROM mantis_registers('b.', true) ORDER BY key;
SELECT key FROM mantis_registers(include_deleted => true) WHERE key LIKE 'b.%' ORDER BY key;

-- STABLE: the planner may use a call as an index condition
SELECT p.oid::regprocedure AS function, p.provolatile, p.proparallel
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON d.refobjid = e.oid AND e.extname = 'mantis'
 ORDER BY 1, 2;
CREATE TABLE plans (name text PRIMARY KEY, price int);
INSERT INTO plans SELECT 'plan' || i, i FROM generate_series(1, 1000) i;
ANALYZE plans;
SELECT mantis_set('current.plan', 'plan42') IS NULL AS pending;
EXPLAIN (COSTS OFF) SELECT price FROM plans WHERE name = mantis_get('current.plan');
SELECT price FROM plans WHERE name = mantis_get('current.plan');
DROP TABLE plans;
