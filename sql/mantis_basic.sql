--
-- set, get, overwrite, delete, NULLs, listing, transactions, privileges
--
CREATE EXTENSION mantis;

-- a key never set reads as NULL
SELECT mantis_get('feature.checkout') IS NULL AS absent;

-- writes wait for COMMIT (mantis.transactional, on by default): set
-- returns NULL then, and the HLC of the write when applied at once
SHOW mantis.transactional;
SELECT mantis_set('feature.checkout', 'on') IS NULL AS pending;
SELECT mantis_get('feature.checkout');
SET mantis.transactional = off;
SELECT mantis_set('feature.checkout', 'on') ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z-[0-9a-f]{4}-[0-9a-f]{16}$' AS hlc_shaped;
RESET mantis.transactional;

-- overwrite
SELECT mantis_set('feature.checkout', 'off') IS NULL AS pending;
SELECT mantis_get('feature.checkout');

-- values may be empty, long, and hold any text
SELECT mantis_set('empty', '') IS NULL AS pending;
SELECT mantis_get('empty') = '' AS empty_value_kept;
SELECT mantis_set('long', repeat('xyz', 100000)) IS NULL AS pending;
SELECT length(mantis_get('long'));
SELECT mantis_set('unicode', 'grüße, 世界') IS NULL AS pending;
SELECT mantis_get('unicode');
SELECT mantis_set('key with spaces / and ''quotes''', 'v') IS NULL AS pending;
SELECT mantis_get('key with spaces / and ''quotes''');

-- overwrite with a longer, then a shorter value (in place or moved)
SELECT mantis_set('grow', 'a') IS NULL AS pending;
SELECT mantis_set('grow', repeat('b', 5000)) IS NULL AS pending;
SELECT length(mantis_get('grow'));
SELECT mantis_set('grow', 'c') IS NULL AS pending;
SELECT mantis_get('grow');

-- delete: true only when a live value was deleted
SELECT mantis_delete('feature.checkout');
SELECT mantis_get('feature.checkout') IS NULL AS deleted;
SELECT mantis_delete('feature.checkout');
SELECT mantis_delete('never.set');

-- set after delete brings the key back
SELECT mantis_set('feature.checkout', 'again') IS NULL AS pending;
SELECT mantis_get('feature.checkout');

-- a NULL value is refused: a driver's NULL must never delete a key;
-- deleting is mantis_delete's
SELECT mantis_set('feature.checkout', NULL);
SELECT mantis_get('feature.checkout') AS still_set;
SELECT mantis_delete('feature.checkout');
SELECT mantis_get('feature.checkout') IS NULL AS deleted;

-- NULL keys
SELECT mantis_get(NULL) IS NULL AS null_get;
SELECT mantis_set(NULL, 'v');
SELECT mantis_set(NULL, NULL);
SELECT mantis_delete(NULL);

-- the empty key is refused
SELECT mantis_set('', 'v');
SELECT mantis_delete('');
-- SQLSTATEs: 22004 null_value_not_allowed, 22023 invalid_parameter_value
\set VERBOSITY sqlstate
SELECT mantis_set(NULL, 'v');
SELECT mantis_set('feature.checkout', NULL);
SELECT mantis_set('', 'v');
-- reads check keys as writes do
SELECT mantis_get('');
SELECT mantis_get(repeat('k', 1025));
\set VERBOSITY default
SELECT mantis_get('');

-- listing: live registers, or all with include_deleted
SELECT key, value, node FROM mantis_registers() WHERE key IN ('empty', 'grow', 'unicode') ORDER BY key;
SELECT key, value IS NULL AS deleted, node FROM mantis_registers(include_deleted => true)
 WHERE key IN ('feature.checkout', 'never.set', 'grow') ORDER BY key;
SELECT count(*) = count(DISTINCT hlc) AS hlcs_distinct FROM mantis_registers(true);

-- writes are transactional: ROLLBACK discards them (see mantis_txn)
BEGIN;
SELECT mantis_set('tx', 'discarded') IS NULL AS pending;
ROLLBACK;
SELECT mantis_get('tx') IS NULL AS rolled_back;
-- unless mantis.transactional is off: then ROLLBACK keeps them
SET mantis.transactional = off;
BEGIN;
SELECT mantis_set('tx', 'kept') IS NOT NULL AS applied;
ROLLBACK;
RESET mantis.transactional;
SELECT mantis_get('tx');

-- the store is shared by every database of the server
\set home_db :DBNAME
CREATE DATABASE mantis_other;
\c mantis_other
CREATE EXTENSION mantis;
SELECT mantis_get('tx');
SELECT mantis_set('from.other.db', 'hello') IS NULL AS pending;
\c :home_db
SELECT mantis_get('from.other.db');
DROP DATABASE mantis_other;

-- nobody but the owner may use the functions until granted
CREATE ROLE mantis_app LOGIN;
SET ROLE mantis_app;
SELECT mantis_get('tx');
SELECT mantis_set('tx', 'stolen');
SELECT * FROM mantis_registers();
\set VERBOSITY sqlstate
SELECT mantis_get('tx');
\set VERBOSITY default
RESET ROLE;
GRANT EXECUTE ON FUNCTION mantis_get(text), mantis_set(text, text) TO mantis_app;
SET ROLE mantis_app;
SELECT mantis_get('tx');
SELECT mantis_set('tx', 'granted') IS NULL AS pending;
SELECT mantis_delete('tx');
RESET ROLE;
SELECT mantis_get('tx');
REVOKE EXECUTE ON FUNCTION mantis_get(text), mantis_set(text, text) FROM mantis_app;
DROP ROLE mantis_app;

-- a many-row write and read in one statement
SELECT count(*) FROM (SELECT mantis_set('bulk.' || i, i::text) FROM generate_series(1, 500) i) s;
SELECT sum(mantis_get('bulk.' || i)::int) FROM generate_series(1, 500) i;
SELECT count(*) FROM mantis_registers() WHERE key LIKE 'bulk.%';
