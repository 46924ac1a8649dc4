--
-- Read your own writes: a session's token (mantis_last_commit()) and the
-- wait for one (mantis_wait_for()) on one server; test/t/073 waits on
-- others.  And mantis_flush() inside a transaction with pending writes.
--
-- a session that has written nothing has no token
SELECT mantis_last_commit() IS NULL AS no_token;
-- nor while its first transaction is open
BEGIN;
SELECT mantis_set('tok.a', 'one') IS NULL AS pending;
SELECT mantis_last_commit() IS NULL AS no_token_yet;
-- mantis_flush() says it leaves the pending write out, and flushes the rest
SELECT mantis_flush() >= 0 AS flushed;
COMMIT;
-- after COMMIT: a token, the commit's HLC, which its write carries
SELECT mantis_last_commit() ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z-[0-9a-f]{4}-[0-9a-f]{16}$' AS hlc_text;
SELECT mantis_last_commit() = hlc AS token_is_commit_hlc
  FROM mantis_registers('tok.') WHERE key = 'tok.a';
SELECT mantis_last_commit() AS first_token \gset
-- after COMMIT the flush has nothing to say
SELECT mantis_flush() >= 0 AS flushed;
-- a transaction that writes nothing, and one rolled back, keep the token
BEGIN;
SELECT mantis_get('tok.a');
COMMIT;
SELECT mantis_last_commit() = :'first_token' AS unchanged;
BEGIN;
SELECT mantis_set('tok.b', 'two') IS NULL AS pending;
ROLLBACK;
SELECT mantis_last_commit() = :'first_token' AS unchanged_by_rollback;
-- so does a savepoint rolled back, and a write then committed moves it on
BEGIN;
SAVEPOINT s;
SELECT mantis_delete('tok.a');
ROLLBACK TO SAVEPOINT s;
SELECT mantis_set('tok.b', 'two') IS NULL AS pending;
COMMIT;
SELECT mantis_last_commit() > :'first_token' AS later,
       mantis_last_commit() = (SELECT hlc FROM mantis_registers('tok.') WHERE key = 'tok.b') AS of_b;
-- written at once (mantis.transactional off): the write's own HLC
SET mantis.transactional = off;
SELECT mantis_set('tok.c', 'three') = mantis_last_commit() AS set_hlc;
SELECT mantis_expire('tok.c', interval '1 hour') AS expired;
SELECT mantis_last_commit() = hlc AS expire_hlc
  FROM mantis_registers('tok.') WHERE key = 'tok.c';
SELECT mantis_delete('tok.c') AS deleted;
SELECT mantis_last_commit() = hlc AS delete_hlc
  FROM mantis_registers('tok.', true) WHERE key = 'tok.c';
RESET mantis.transactional;
-- this server wrote it: held at once, whatever the timeout
SELECT mantis_wait_for(mantis_last_commit()) AS held;
SELECT mantis_wait_for(mantis_last_commit(), interval '0') AS held;
SELECT mantis_wait_for(:'first_token', NULL) AS held;
-- what is not a token: 22023, with a hint; NULL: 22004
\set VERBOSITY sqlstate
SELECT mantis_wait_for('not a token');
SELECT mantis_wait_for('2026-11-26T02:11:33.123Z-0001-0123456789abcdeg');
SELECT mantis_wait_for(NULL);
SELECT mantis_wait_for(mantis_last_commit(), interval '-1 second');
-- a token of a node that is not a peer (this server has none): 55000
SELECT mantis_wait_for('2026-11-26T02:11:33.123Z-0001-0123456789abcdef');
\set VERBOSITY default
SELECT mantis_wait_for('not a token');
SELECT mantis_wait_for('2026-11-26T02:11:33.123Z-0001-0123456789abcdef');
SELECT mantis_delete('tok.a'), mantis_delete('tok.b');
