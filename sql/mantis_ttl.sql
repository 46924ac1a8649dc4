--
-- Expiry (1.2): mantis_set(key, value, ttl), mantis_ttl(), mantis_expire();
-- an expired value reads as absent everywhere, as a deleted key does;
-- TTLs in transactions; the expires_at columns; the errors, with their
-- SQLSTATEs; the new columns of mantis_status.
--
SET TimeZone = 'UTC';
SET mantis.transactional = off;	-- each write applies at once

-- a value with a TTL reads back; mantis_ttl tells the time left
SELECT mantis_set('ttl.session', '{"user": 42}', ttl => interval '30 minutes') IS NOT NULL AS applied;
SELECT mantis_get('ttl.session'), mantis_get_json('ttl.session') -> 'user' AS "user",
       mantis_ttl('ttl.session') BETWEEN interval '29 minutes' AND interval '30 minutes' AS about_30_minutes_left;
-- typed values take a TTL too
SELECT mantis_set('ttl.int', 41, interval '1 hour') IS NOT NULL AS applied,
       mantis_set('ttl.flag', true, ttl => interval '1 day') IS NOT NULL AS applied,
       mantis_set('ttl.json', '{"a": 1}'::jsonb, interval '2 days') IS NOT NULL AS applied;
SELECT mantis_get('ttl.int', 0) + 1 AS "int", mantis_get('ttl.flag', false) AS flag,
       mantis_get_json('ttl.json') ->> 'a' AS a;
SELECT pg_typeof(mantis_ttl('ttl.int')) AS type, mantis_ttl('ttl.int') > interval '59 minutes' AS an_hour,
       mantis_ttl('ttl.flag') > interval '23 hours' AS a_day, mantis_ttl('ttl.json') > interval '47 hours' AS two_days;
-- months and days are calendar time, as in now() + ttl
SELECT mantis_set('ttl.month', 'm', interval '1 month 2 days') IS NOT NULL AS applied;
SELECT expires_at BETWEEN now() + interval '1 month 2 days' - interval '1 minute'
                      AND now() + interval '1 month 2 days' + interval '1 minute' AS calendar
  FROM mantis_registers('ttl.month');

-- no TTL: a NULL one, or none at all
SELECT mantis_set('ttl.plain', 'p') IS NOT NULL AS applied, mantis_set('ttl.null', 'n', NULL) IS NOT NULL AS applied;
SELECT mantis_ttl('ttl.plain') IS NULL AS never, mantis_ttl('ttl.null') IS NULL AS never,
       mantis_ttl('ttl.absent') IS NULL AS absent, mantis_ttl(NULL) IS NULL AS null_key;
SELECT key, value, expires_at IS NOT NULL AS expires FROM mantis_registers('ttl.') ORDER BY key;

-- a later write replaces value and expiry: a plain set never expires ...
SELECT mantis_set('ttl.int', 7) IS NOT NULL AS applied;
SELECT mantis_get('ttl.int'), mantis_ttl('ttl.int') IS NULL AS never;
-- ... and a set with a TTL gives one to a key that had none
SELECT mantis_set('ttl.plain', 'p2', interval '10 minutes') IS NOT NULL AS applied;
SELECT mantis_get('ttl.plain'), mantis_ttl('ttl.plain') > interval '9 minutes' AS ten_minutes;

-- mantis_expire: the same value, a new expiry, under a new HLC
SELECT hlc AS old_hlc FROM mantis_registers('ttl.null') \gset
SELECT mantis_expire('ttl.null', interval '5 minutes') AS expire;
SELECT value, mantis_ttl(key) BETWEEN interval '4 minutes' AND interval '5 minutes' AS five_minutes,
       hlc > :'old_hlc' AS newer_hlc
  FROM mantis_registers('ttl.null');
SELECT mantis_expire('ttl.null', interval '1 year') AS expire, mantis_ttl('ttl.null') > interval '364 days' AS a_year;
-- false, and nothing written, for a key without a live value
SELECT mantis_expire('ttl.absent', interval '1 hour') AS absent;
SELECT count(*) AS nothing_written FROM mantis_registers('ttl.absent', true);
SELECT mantis_delete('ttl.plain') AS deleted;
SELECT mantis_expire('ttl.plain', interval '1 hour') AS after_delete, mantis_get('ttl.plain') IS NULL AS still_deleted;

-- a short TTL: the value is there, then gone for every reader
SELECT mantis_set('ttl.brief', 'brief', interval '3 seconds') IS NOT NULL AS applied;
DO $$
DECLARE
  deadline timestamptz := clock_timestamp() + interval '60 seconds';
BEGIN
  IF NOT mantis_ttl('ttl.brief') > interval '0' THEN
    RAISE 'ttl.brief had no time left before it expired';
  END IF;
  WHILE mantis_get('ttl.brief') IS NOT NULL LOOP
    IF clock_timestamp() > deadline THEN
      RAISE 'ttl.brief did not expire within 60 seconds';
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT mantis_get('ttl.brief') IS NULL AS gone, mantis_get('ttl.brief', 'default') AS with_default,
       mantis_get('ttl.brief', 0) AS typed, mantis_get_json('ttl.brief') IS NULL AS json_gone,
       mantis_ttl('ttl.brief') IS NULL AS no_ttl;
SELECT * FROM mantis_get_many(ARRAY['ttl.brief', 'ttl.session']);
SELECT count(*) AS listed FROM mantis_registers('ttl.brief');
-- with include_deleted it is listed like a deletion marker (no value, its
-- expiry) until the sweep collects it, which may be at once: it is swept as
-- soon as its expiry has passed
SELECT count(*) <= 1 AS at_most_once,
       bool_and(value IS NULL AND hlc IS NOT NULL AND expires_at < now()) IS NOT FALSE AS dead_if_listed
  FROM mantis_registers('ttl.brief', true);
SELECT count(*) FILTER (WHERE key = 'ttl.brief' AND value IS NOT NULL) AS listed_live FROM mantis_registers(true);
-- an expired key holds no live value: expire and delete find none
SELECT mantis_expire('ttl.brief', interval '1 hour') AS expire, mantis_delete('ttl.brief') AS deleted_live;
-- set again, it lives again
SELECT mantis_set('ttl.brief', 'back') IS NOT NULL AS applied;
SELECT mantis_get('ttl.brief'), mantis_ttl('ttl.brief') IS NULL AS never;

-- the errors: a TTL must be at least a millisecond, end before the year
-- 10000, and (for mantis_expire) not be NULL
\set VERBOSITY sqlstate
SELECT mantis_set('ttl.bad', 'v', interval '0');
SELECT mantis_set('ttl.bad', 'v', interval '-1 second');
SELECT mantis_set('ttl.bad', 'v', interval '0.5 milliseconds');
SELECT mantis_set('ttl.bad', 'v', interval '1 month -30 days');
SELECT mantis_set('ttl.bad', 42, interval '-1 day');
SELECT mantis_set('ttl.bad', 'v', interval '8000 years');
SELECT mantis_set('ttl.bad', 42, interval '178000000 years');
SELECT mantis_expire('ttl.session', NULL);
SELECT mantis_expire('ttl.session', interval '0');
SELECT mantis_expire('ttl.session', interval '-5 minutes');
SELECT mantis_expire('ttl.session', interval '9000 years');
SELECT mantis_expire(NULL, interval '1 hour');
SELECT mantis_expire('', interval '1 hour');
SELECT mantis_set('', 'v', interval '1 hour');
\set VERBOSITY default
SELECT mantis_set('ttl.bad', 'v', interval '-1 second');
SELECT mantis_set('ttl.bad', 'v', interval '1 month -30 days');
SELECT mantis_set('ttl.bad', 'v', interval '8000 years');
SELECT mantis_expire('ttl.session', NULL);
-- none of them wrote anything, nor changed the expiry they were given
SELECT count(*) AS nothing_written FROM mantis_registers('ttl.bad', true);
SELECT mantis_ttl('ttl.session') BETWEEN interval '25 minutes' AND interval '30 minutes' AS unchanged;

-- in a transaction (mantis.transactional): the expiry is counted from the
-- write, seen by the transaction's own reads, and applied at COMMIT
RESET mantis.transactional;
BEGIN;
SELECT mantis_set('ttl.txn', 'in txn', interval '1 hour') IS NULL AS pending;
SELECT mantis_get('ttl.txn'), mantis_ttl('ttl.txn') > interval '59 minutes' AS an_hour;
SELECT key, value, hlc IS NULL AS at_commit, expires_at > now() AS expires FROM mantis_registers('ttl.txn');
SELECT mantis_expire('ttl.txn', interval '2 hours') AS expire, mantis_ttl('ttl.txn') > interval '119 minutes' AS two_hours;
-- buffered, mantis_expire is a set of the value this session sees now
SELECT mantis_expire('ttl.session', interval '3 hours') AS expire, mantis_expire('ttl.none', interval '1 hour') AS absent;
SELECT mantis_ttl('ttl.session') > interval '179 minutes' AS three_hours;
COMMIT;
SELECT mantis_get('ttl.txn'), mantis_ttl('ttl.txn') > interval '119 minutes' AS two_hours,
       mantis_get('ttl.session'), mantis_ttl('ttl.session') > interval '179 minutes' AS three_hours,
       mantis_get('ttl.none') IS NULL AS none;
-- ROLLBACK keeps the old expiry
BEGIN;
SELECT mantis_expire('ttl.txn', interval '1 minute') AS expire;
SELECT mantis_ttl('ttl.txn') <= interval '1 minute' AS one_minute;
ROLLBACK;
SELECT mantis_ttl('ttl.txn') > interval '119 minutes' AS two_hours;
-- a value whose TTL runs out before COMMIT reads as absent already
BEGIN;
SELECT mantis_set('ttl.txnbrief', 'x', interval '1 millisecond') IS NULL AS pending;
SELECT pg_sleep(0.01);
SELECT mantis_get('ttl.txnbrief') IS NULL AS gone, mantis_ttl('ttl.txnbrief') IS NULL AS no_ttl,
       (SELECT value FROM mantis_get_many(ARRAY['ttl.txnbrief'])) IS NULL AS gone_many;
SELECT count(*) AS listed FROM mantis_registers('ttl.txnbrief');
SELECT value IS NULL AS no_value, hlc IS NULL AS at_commit FROM mantis_registers('ttl.txnbrief', true);
COMMIT;
SELECT mantis_get('ttl.txnbrief') IS NULL AS gone,
       count(*) FILTER (WHERE value IS NOT NULL) AS held_live FROM mantis_registers('ttl.txnbrief', true);
-- a deletion in a transaction leaves no expiry behind
BEGIN;
SELECT mantis_delete('ttl.txn') AS deleted_live;
SELECT mantis_ttl('ttl.txn') IS NULL AS no_ttl;
COMMIT;
SELECT value IS NULL AS deleted, expires_at IS NULL AS no_expiry FROM mantis_registers('ttl.txn', true)
 WHERE key = 'ttl.txn';
SET mantis.transactional = off;

-- mantis_decode shows the expiry of a register (kind 3) as expires_at
SELECT key, value, hlc, node, deleted, expires_at
  FROM mantis_decode('\x4d4e5453020000000000000100000000000000000000001f03019abdee288300010123456789abcdef0000019abe099fc3000000016b76');
-- a version 1 snapshot still decodes, without an expiry
SELECT key, value, deleted, expires_at FROM mantis_decode('\x4d4e545301000000000000010000001601000000000000000000000000000000000000000161');
-- an expiring register without an expiry is malformed
SELECT * FROM mantis_decode('\x4d4e5453020000000000000100000000000000000000001f03019abdee288300010123456789abcdef0000000000000000000000016b76');

-- mantis_status: the new columns (what the sweep found and collected)
SELECT expired_keys >= 0 AS expired_keys, collected_deletions >= 0 AS collected_deletions,
       collected_expired >= 0 AS collected_expired,
       collection_horizon IS NULL OR collection_horizon <= clock_timestamp() AS collection_horizon,
       refusal_horizon IS NULL OR refusal_horizon <= now() AS refusal_horizon,
       refused_collected >= 0 AS refused_collected
  FROM mantis_status;
SELECT pg_typeof(expired_keys) AS expired_keys, pg_typeof(collection_horizon) AS collection_horizon,
       pg_typeof(refused_collected) AS refused_collected
  FROM mantis_status;
SELECT keys <= (SELECT count(*) FROM mantis_registers(true)) - deleted_keys AS live_keys_counted
  FROM mantis_status;

-- mantis_ttl is for readers, mantis_expire for writers
CREATE ROLE regress_ttl_reader LOGIN IN ROLE mantis_reader;
CREATE ROLE regress_ttl_writer LOGIN IN ROLE mantis_writer;
SET ROLE regress_ttl_reader;
SELECT mantis_ttl('ttl.session') > interval '0' AS reader_reads_ttl;
\set VERBOSITY sqlstate
SELECT mantis_expire('ttl.session', interval '4 hours');
SELECT mantis_set('ttl.session', 'x', interval '4 hours');
\set VERBOSITY default
SET ROLE regress_ttl_writer;
SELECT mantis_expire('ttl.session', interval '4 hours') AS writer_expires,
       mantis_set('ttl.writer', 'w', interval '4 hours') IS NOT NULL AS writer_sets;
RESET ROLE;
DROP ROLE regress_ttl_reader, regress_ttl_writer;
RESET mantis.transactional;
