--
-- The HLC a write returns: strictly increasing, fixed width, sorts in
-- clock order, names this node, close to the wall clock.
--
SET mantis.transactional = off;	-- each write applies at once, with its HLC
CREATE TEMP TABLE writes AS
SELECT i, mantis_set('hlc.' || (i % 7), i::text) AS hlc
  FROM generate_series(1, 5000) i;

-- every write got a distinct HLC, in the order of the writes
SELECT count(DISTINCT hlc) AS distinct_hlcs FROM writes;
SELECT bool_and(prev < hlc) AS strictly_increasing
  FROM (SELECT hlc, lag(hlc) OVER (ORDER BY i) AS prev FROM writes) s
 WHERE prev IS NOT NULL;

-- fixed width; text order equals write order even with a C collation
SELECT min(length(hlc)) = 46 AND max(length(hlc)) = 46 AS fixed_width FROM writes;
SELECT array_agg(i ORDER BY hlc COLLATE "C") = array_agg(i ORDER BY i) AS sorts FROM writes;

-- the wall-clock part reads as a UTC time close to now
SELECT abs(extract(epoch FROM (left(hlc, 23) || '+00')::timestamptz - now())) < 60 AS near_now
  FROM writes WHERE i = 1;

-- many writes inside one millisecond use the logical counter
SELECT count(*) > count(DISTINCT left(hlc, 24)) AS logical_counter_used FROM writes;

-- the node id part is this node's, and the same on every write
SELECT count(DISTINCT right(hlc, 16)) AS node_ids FROM writes;

-- the register keeps the HLC of its last write, and its node's name
SELECT r.hlc = w.hlc AS last_write_kept, r.value, r.node
  FROM mantis_registers() r
  JOIN writes w ON w.i = 4998 AND r.key = 'hlc.' || (4998 % 7);

-- a later write has a greater HLC than everything stored
SELECT mantis_set('hlc.later', 'x') > (SELECT max(hlc) FROM mantis_registers(true)
                                        WHERE key <> 'hlc.later') AS later_is_greater;
