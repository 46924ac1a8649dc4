--
-- On a server that does not preload mantis, CREATE EXTENSION works (so a
-- dump restores anywhere) and every function says what is missing.
--
CREATE EXTENSION mantis;
SELECT mantis_set('k', 'v');
-- the SQLSTATE is 55000 (object_not_in_prerequisite_state)
\set VERBOSITY sqlstate
SELECT mantis_get('k');
SELECT mantis_delete('k');
SELECT * FROM mantis_registers();
\set VERBOSITY default
SHOW shared_preload_libraries;
