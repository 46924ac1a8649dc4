# Where the store meets PostgreSQL's own operations, on real servers: a
# restart with lower limits or a clock set back, the table replaced behind
# the worker (DROP/CREATE EXTENSION, TRUNCATE, rows restored by hand), a
# flush that fails halfway, a synchronous standby that never answers, a
# table lock, mantis_flush()'s promise, a database of another encoding,
# and repair of two registers that differ only in their value.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use MantisTest;

my $node = mantis_node('s1', qq{
mantis.max_value_size = '4kB'
mantis.max_keys = 100
mantis.compact_rows = 1
}, init => { allows_streaming => 1 });

sub sql { my ($n, $sql) = @_; return $n->safe_psql('postgres', $sql) }

sub stored_count
{
	my ($n, $key) = @_;
	return sql($n, qq{SELECT count(*) FROM mantis_stores, mantis_decode(registers) d WHERE d.key = '$key'});
}

# --- 1. lower limits at a restart hold registers back, never delete them ---
sql($node, q{SELECT mantis_set('big', repeat('x', 3000)), mantis_set('small', 's')});
sql($node, q{SELECT mantis_set('many.' || i, i::text) FROM generate_series(1, 60) i});
sql($node, q{SELECT mantis_flush()});
$node->append_conf('postgresql.conf', qq{
mantis.max_value_size = '1kB'
mantis.max_keys = 55
});
$node->restart;
is(sql($node, q{SELECT mantis_get('big') IS NULL}), 't',
	'a value larger than the new mantis.max_value_size is not loaded');
my $held = sql($node, q{SELECT held_back FROM mantis_status});
# 62 registers: the big value refused, 61 for 55 places
cmp_ok($held, '>=', 7, "mantis_status counts the registers held back ($held)");
# compact_rows = 1: every flush compacts (the store is full: overwrite)
sql($node, q{SELECT mantis_set('small', 'y')});
sql($node, q{SELECT mantis_flush()});
sql($node, q{SELECT mantis_set('small', 'z')});
sql($node, q{SELECT mantis_flush()});
cmp_ok(stored_count($node, 'big'), '>=', 1, 'compaction left the row holding the big value in mantis_stores');
$node->append_conf('postgresql.conf', qq{
mantis.max_value_size = '4kB'
mantis.max_keys = 100
});
$node->restart;
is(sql($node, q{SELECT length(mantis_get('big'))}), '3000',
	'with the limit raised again the big value is back');
is(sql($node, q{SELECT count(*) FROM generate_series(1, 60) i WHERE mantis_get('many.' || i) = i::text}),
	'60', 'and so are all 60 keys that found no room under the lower mantis.max_keys');
is(sql($node, q{SELECT mantis_get('small')}), 'z', 'beside what was written meanwhile');
is(sql($node, q{SELECT held_back FROM mantis_status}), '0', 'nothing is held back any more');

# a register held back still moves the clock: a write made meanwhile wins
sql($node, q{SELECT mantis_set('late.big', repeat('y', 3000))});
sql($node, q{SELECT mantis_flush()});
$node->stop;
$node->append_conf('postgresql.conf', "mantis.max_value_size = '1kB'\n");
{
	local %ENV = (%ENV,
		LD_PRELOAD => '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
		FAKETIME => '-10m', DONT_FAKE_MONOTONIC => '1');
	$node->start;
}
# mantis_status does not wait for the load: wait for it (a loaded machine
# once answered before the rows were read, and counted none)
wait_loaded($node);
is(sql($node, q{SELECT held_back FROM mantis_status}), '2', 'two values are held back (big and late.big)');
sql($node, q{SELECT mantis_set('late.big', 'short')});
sql($node, q{SELECT mantis_flush()});
sql($node, q{SELECT mantis_set('late.big', 'short')});
sql($node, q{SELECT mantis_flush()});    # the second delta row: a compaction
is(sql($node, q{SELECT held_back FROM mantis_status}), '1',
	'a held-back register beaten by a later write is held back no more');
$node->stop;
$node->append_conf('postgresql.conf', "mantis.max_value_size = '4kB'\n");
$node->start;
is(sql($node, q{SELECT mantis_get('late.big')}), 'short',
	'a write made while a larger value was held back, with the clock 10 minutes behind, beats it once it is back');

# --- a server whose clock was set back keeps its own history ---------------
sql($node, q{SELECT mantis_set('clock.back', 'before')});
sql($node, q{SELECT mantis_flush()});
$node->stop;
{
	local %ENV = (%ENV,
		LD_PRELOAD => '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
		FAKETIME => '-3d', DONT_FAKE_MONOTONIC => '1');
	$node->start;
}
is(sql($node, q{SELECT mantis_get('clock.back')}), 'before',
	'after a start with the clock 3 days back, its own registers load');
sql($node, q{SELECT mantis_set('clock.back', 'after')});
is(sql($node, q{SELECT mantis_get('clock.back')}), 'after',
	'and a new write beats them (the clock moved past its history)');
sql($node, q{SELECT mantis_flush()});
$node->stop;
$node->start;
is(sql($node, q{SELECT mantis_get('clock.back')}), 'after', 'which survives a restart with the right clock');

# --- 2. the table replaced behind the worker --------------------------------
# (compaction, which writes everything, must not come to the rescue)
$node->append_conf('postgresql.conf', qq{
mantis.max_keys = 20000
mantis.compact_rows = 1000
});
$node->restart;
sql($node, q{SELECT mantis_set('t' || i, 'v' || i) FROM generate_series(1, 4) i});
sql($node, q{SELECT mantis_flush()});
sql($node, q{DROP EXTENSION mantis});
sql($node, q{CREATE EXTENSION mantis});
sql($node, q{SELECT mantis_set('t5', 'v5')});
$node->poll_query_until('postgres', q{SELECT mantis_flush() >= 0}) or die 'no flush after CREATE EXTENSION';
$node->restart;
is(sql($node, q{SELECT count(*) FROM generate_series(1, 5) i WHERE mantis_get('t' || i) = 'v' || i}),
	'5', 'after DROP and CREATE EXTENSION every key is written again, not only the changed one');

sql($node, q{TRUNCATE mantis_stores});
sql($node, q{SELECT mantis_flush()});
$node->restart;
is(sql($node, q{SELECT count(*) FROM generate_series(1, 5) i WHERE mantis_get('t' || i) = 'v' || i}),
	'5', 'after TRUNCATE mantis_stores every key is written again');

# rows restored into a running server are merged at once
my $other = mantis_node('s2');
sql($other, q{SELECT mantis_set('restored.key', 'from s2')});
sql($other, q{SELECT mantis_flush()});
my $rows = sql($other, q{SELECT string_agg(format('(%L, %L, %L::bytea)', clock, node, registers), ',') FROM mantis_stores});
sql($node, qq{INSERT INTO mantis_stores (clock, node, registers) VALUES $rows});
ok($node->poll_query_until('postgres', q{SELECT mantis_get('restored.key') = 'from s2'}),
	'rows added to mantis_stores of a running server are merged into memory');
# a row changed in place is merged again, never compacted away unmerged
sql($other, q{SELECT mantis_set('changed.key', 'AAAA')});
sql($other, q{SELECT mantis_flush()});
my $changed = sql($other, q{SELECT encode(registers, 'hex') FROM mantis_stores, mantis_decode(registers) d
                            WHERE d.key = 'changed.key' ORDER BY id DESC LIMIT 1});
my $renamed = $changed =~ s/41414141$/42424242/r;    # value AAAA -> BBBB
my $row_id = sql($node, q{SELECT max(id) FROM mantis_stores});
sql($node, qq{INSERT INTO mantis_stores (clock, node, registers) VALUES ('x', 's1', '\\x$changed')});
$node->poll_query_until('postgres', q{SELECT mantis_get('changed.key') = 'AAAA'}) or die 'row not merged';
sql($node, qq{UPDATE mantis_stores SET registers = '\\x$renamed' WHERE id = (SELECT max(id) FROM mantis_stores WHERE node = 's1' AND clock = 'x')});
ok($node->poll_query_until('postgres', q{SELECT mantis_get('changed.key') = 'BBBB'}),
	'a row updated in place is merged again');
sql($node, q{SELECT mantis_flush()});
$node->restart;
is(sql($node, q{SELECT mantis_get('changed.key')}), 'BBBB', 'and survives the compaction that follows');
# rows added with ids ahead of the id sequence do not stop the flushes
sql($node, q{INSERT INTO mantis_stores (id, clock, node, registers)
              SELECT id + 1000 + g, clock, 's2', registers FROM mantis_stores, generate_series(1, 5) g
               WHERE id = (SELECT max(id) FROM mantis_stores)});
my $fails = sql($node, q{SELECT flush_failures FROM mantis_status});
sql($node, q{SELECT mantis_set('after.ids', 'ok')});
# the periodic flush may write it before mantis_flush() does: ask the table
sql($node, q{SELECT mantis_flush()});
is(sql($node, q{SELECT count(*) > 0 FROM mantis_stores, mantis_decode(registers) d WHERE d.key = 'after.ids'}),
	't', 'a flush after rows with ids ahead of the sequence succeeds');
is(sql($node, q{SELECT flush_failures FROM mantis_status}), $fails, 'without a failure');
$other->stop;

# --- 4. mantis_flush(): every write acknowledged before it is committed -----
sql($node, q{CREATE TABLE acked (k text)});
my $script = $node->basedir . '/flush.sql';
open my $f, '>', $script or die;
print $f q{\set n random(1, 1000000000000)
SELECT mantis_set('race.' || :n, 'v');
SELECT mantis_flush();
INSERT INTO acked VALUES ('race.' || :n);
};
close $f;
$node->command_ok([ 'pgbench', '-n', '-c', '4', '-t', '150', '-f', $script, '-p', $node->port, '-h', $node->host, 'postgres' ],
	'600 set + mantis_flush() transactions from 4 clients');
kill_and_start($node);
is(sql($node, q{SELECT count(*) FROM acked WHERE mantis_get(k) IS NULL}), '0',
	'after kill -9 every key written before a mantis_flush() that returned is there');

# --- 5. a flush that fails halfway leaks no lock and loses nothing ---------
sql($node, q{ALTER SYSTEM SET mantis.debug_fail_flush = on; SELECT pg_reload_conf()});
my $failures = sql($node, q{SELECT flush_failures FROM mantis_status});
sql($node, q{SELECT mantis_set('fault.' || i, i::text) FROM generate_series(1, 300) i});
ok($node->poll_query_until('postgres', qq{SELECT flush_failures::int > $failures FROM mantis_status}),
	'the worker fails its flush on purpose');
like(sql($node, q{SELECT last_flush_error FROM mantis_status}), qr/out of memory/,
	'mantis_status shows why');
is(sql($node, q{SET statement_timeout = '60s'; SELECT count(*) FROM (SELECT mantis_set('fault.more.' || i, 'x') FROM generate_series(1, 3000) i) s}),
	'3000', 'writes to every partition go on: no partition lock was left behind');
sql($node, q{ALTER SYSTEM RESET mantis.debug_fail_flush; SELECT pg_reload_conf()});
$node->poll_query_until('postgres', q{SELECT mantis_flush() >= 0}) or die 'flushes did not resume';
kill_and_start($node);
is(sql($node, q{SELECT count(*) FROM generate_series(1, 300) i WHERE mantis_get('fault.' || i) = i::text}),
	'300', 'every register taken by the failed flushes was written later');
is(sql($node, q{SELECT count(*) FROM generate_series(1, 3000) i WHERE mantis_get('fault.more.' || i) = 'x'}),
	'3000', 'and every one written meanwhile');

# --- 6. a table lock delays a flush by lock_timeout, not for ever -----------
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE mantis_stores IN ACCESS EXCLUSIVE MODE');
$failures = sql($node, q{SELECT flush_failures FROM mantis_status});
sql($node, q{SELECT mantis_set('locked.out', '1')});
ok($node->poll_query_until('postgres',
	qq{SELECT flush_failures::int > $failures AND last_flush_error LIKE '%lock timeout%' FROM mantis_status}),
	'a flush waiting for a table lock gives up after lock_timeout and says so');
$locker->query_safe('COMMIT');
$locker->quit;
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM mantis_stores, mantis_decode(registers) d WHERE d.key = 'locked.out'}),
	'and the register is written once the lock is gone');

# --- 6. fast shutdown with a synchronous standby that never answers --------
sql($node, q{ALTER SYSTEM SET synchronous_standby_names = 'nobody'; SELECT pg_reload_conf()});
sql($node, q{SELECT mantis_set('sync.wait', 'kept')});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mantis worker' AND wait_event = 'SyncRep'}),
	"the worker's flush waits for the synchronous standby");
sql($node, q{SELECT mantis_set('sync.after', 'kept too')});
my $t0 = time();
$node->stop('fast');
my $took = time() - $t0;
cmp_ok($took, '<', 30, sprintf('fast shutdown finishes (%.1f s) although the standby never answers', $took));
ok($node->log_contains('canceling wait for synchronous replication'), 'the worker stopped waiting for it');
$node->append_conf('postgresql.conf', "synchronous_standby_names = ''\n");
unlink($node->data_dir . '/postgresql.auto.conf');
$node->start;
is(sql($node, q{SELECT mantis_get('sync.wait') || ', ' || mantis_get('sync.after')}), 'kept, kept too',
	'nothing acknowledged locally was lost, before or during the wait');

# --- 9. a database of another encoding is refused, not served bad bytes ----
sql($node, q{SELECT mantis_set('enc', 'Grüße')});
sql($node, q{CREATE DATABASE latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
$node->safe_psql('latin1', 'CREATE EXTENSION mantis');
my ($ret, $out, $err) = $node->psql('latin1', q{\set VERBOSITY verbose
SELECT mantis_get('enc')});
like($err, qr/0A000: mantis cannot be used from a database with encoding "LATIN1"/,
	'a read from a LATIN1 database fails with 0A000');
like($err, qr/HINT:  Use mantis from a database whose encoding is "UTF8"/, 'with a hint');
($ret, $out, $err) = $node->psql('latin1', q{SELECT mantis_set('enc', 'x')});
like($err, qr/mantis cannot be used from a database with encoding/, 'and so does a write');
is(sql($node, q{SELECT mantis_get('enc')}), 'Grüße', 'the UTF8 database reads the value intact');
$node->stop;

# --- 11. repair compares values, not only clocks ---------------------------
my $c = mantis_cluster(2, qq{
mantis.sync_interval = '500ms'
}, prefix => 'v');
my ($v1, $v2) = @{ $c->{nodes} }[ 1, 2 ];
for my $n ($v1, $v2)
{
	$n->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mantis_peers WHERE state = 'connected'})
	  or die 'not connected';
}
sql($v1, q{SELECT mantis_set('tie', 'a')});
$v2->poll_query_until('postgres', q{SELECT mantis_get('tie') = 'a'}) or die 'no replication';
sql($v1, q{SELECT mantis_flush()});
# the same register with another value ('b' for 'a'), as a failover can make
my $row = sql($v1, q{SELECT encode(registers, 'hex') FROM mantis_stores, mantis_decode(registers) d
                    WHERE d.key = 'tie' ORDER BY id DESC LIMIT 1});
like($row, qr/61$/, 'the flushed row ends with the value');
$row =~ s/61$/62/;
sql($v2, qq{INSERT INTO mantis_stores (clock, node, registers) VALUES ('x', 'v1', '\\x$row')});
ok($v2->poll_query_until('postgres', q{SELECT mantis_get('tie') = 'b'}),
	'v2 takes the twin register with the greater value');
is(sql($v2, q{SELECT hlc FROM mantis_registers() WHERE key = 'tie'}),
	sql($v1, q{SELECT hlc FROM mantis_registers() WHERE key = 'tie'}), 'both hold one HLC for it');
ok($v1->poll_query_until('postgres', q{SELECT mantis_get('tie') = 'b'}),
	'repair brings v1 the same value: fingerprints cover values');
ok(wait_converged($v1, $v2), 'the two servers converge');
$_->stop for ($v1, $v2);

done_testing();
