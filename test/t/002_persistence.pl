# Persistence: the worker flushes changed registers into mantis_stores and
# loads them back after a restart, a crash restart, or a late CREATE
# EXTENSION; what each shutdown mode can lose; a bounded table; hostile rows.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use MantisTest;

my $node = mantis_node('p1', "max_prepared_transactions = 2\n");
is($node->safe_psql('postgres', 'SELECT persistence FROM mantis_status'),
	'ready', 'the worker is ready once the extension exists');

# --- 10,000 sets survive a fast shutdown, which stays quick -------------
# with periodic flushes an hour apart, only the shutdown flush saves them
$node->safe_psql('postgres',
	q{ALTER SYSTEM SET mantis.flush_interval = '1h'; SELECT pg_reload_conf()});
$node->safe_psql('postgres', q{SELECT mantis_flush()});
$node->safe_psql('postgres',
	q{SELECT count(mantis_set('fast.' || i, 'v' || i)) FROM generate_series(1, 10000) i});
my $before = registers_dump($node);
my $t0 = time();
$node->stop('fast');
my $stop_secs = time() - $t0;
cmp_ok($stop_secs, '<', 10, sprintf('fast stop took %.2f s', $stop_secs));
$node->start;
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM generate_series(1, 10000) i WHERE mantis_get('fast.' || i) = 'v' || i}),
	'10000', 'all 10,000 keys are back after a fast restart');
is(registers_dump($node), $before, 'registers, HLCs included, identical after restart');
ok($node->log_contains('mantis flushed 10000 registers before shutting down'),
	'the worker flushed the 10,000 registers on shutdown');
$node->safe_psql('postgres',
	q{ALTER SYSTEM RESET mantis.flush_interval; SELECT pg_reload_conf()});

# --- immediate shutdown loses at most the last flush interval -----------
my $bg = $node->background_psql('postgres');
$bg->query_safe('SET mantis.transactional = off');    # each set returns its HLC
my %acked;    # key => HLC text of the acknowledged write
my $end = time() + 3;
my $i = 0;
while (time() < $end)
{
	$i++;
	$acked{"imm.$i"} = $bg->query_safe(qq{SELECT mantis_set('imm.$i', '$i')});
}
my $stop_ms = int(time() * 1000);
$node->stop('immediate');
$bg->{run}->kill_kill;
$node->start;
my %back = map { split /\|/ } split /\n/, $node->safe_psql('postgres',
	q{SELECT key || '|' || hlc FROM mantis_registers() WHERE key LIKE 'imm.%'});
my ($lost_old, $lost_recent) = (0, 0);
for my $key (keys %acked)
{
	next if exists $back{$key} && $back{$key} eq $acked{$key};
	# the HLC text starts with the UTC time of the write
	my ($h, $m, $s) = $acked{$key} =~ /T(\d\d):(\d\d):(\d\d\.\d+)Z/;
	my $age_ms = ($stop_ms / 1000 - int($stop_ms / 86400000) * 86400
		  - ($h * 3600 + $m * 60 + $s)) * 1000;
	if ($age_ms > 1000 + 500) { $lost_old++ } else { $lost_recent++ }
}
note("immediate stop: $i writes acknowledged, $lost_recent lost from the last 1.5 s");
is($lost_old, 0, 'no write older than the flush interval (+0.5 s) was lost');
cmp_ok(scalar(keys %back), '>', $i / 2, 'most of the writes survived the immediate stop');

# --- a flush copies many leaves into one batch (store/read.c): values
# larger than a batch (256 kB) and more than a batch holds are all back ---
$node->safe_psql('postgres', q{
	SELECT count(mantis_set('wide.' || g, repeat(chr(65 + g % 26), 300000 + g)))
	  FROM generate_series(1, 12) g;
	SELECT count(mantis_set('mid.' || g, repeat('m', 20000 + g))) FROM generate_series(1, 600) g});
$node->safe_psql('postgres', 'SELECT mantis_flush()');
my $wide_sql = q{SELECT count(*) || ' ' || md5(string_agg(key || '|' || md5(value) || '|' || hlc, ',' ORDER BY key))
	FROM mantis_registers() WHERE key LIKE 'wide.%' OR key LIKE 'mid.%'};
my $wide = $node->safe_psql('postgres', $wide_sql);
like($wide, qr/^612 /, 'the 612 large values are in the store');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', $wide_sql), $wide,
	'and back whole after an immediate stop, from the rows of one flush');

# --- a crash restart reloads the store; gets wait, never answer "absent" ---
$node->safe_psql('postgres',
	q{SELECT count(mantis_set('crash.' || i, 'c' || i)) FROM generate_series(1, 5000) i});
$node->safe_psql('postgres', 'SELECT mantis_flush()');
# hold a lock on mantis_stores across the crash, so loading must wait
$node->safe_psql('postgres',
	q{BEGIN; LOCK TABLE mantis_stores IN ACCESS EXCLUSIVE MODE; PREPARE TRANSACTION 'hold'});
my $victim = $node->safe_psql('postgres', 'SELECT pg_backend_pid()');
my $bg2 = $node->background_psql('postgres');
my $victim2 = $bg2->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $victim2;
$bg2->{run}->kill_kill;
$node->poll_query_until('postgres', 'SELECT true')
  or die 'server did not come back after the crash';
ok($node->log_contains('terminated by signal 9'), 'the backend crash restarted the server');
my ($rc, $out, $err) = $node->psql('postgres',
	q{SET mantis.load_timeout = '1s'; SELECT mantis_get('crash.1')});
like($err, qr/mantis is loading/, 'a get while the store is loading fails with "mantis is loading"');
is($out, '', 'and returns no answer rather than NULL');
($rc, $out, $err) = $node->psql('postgres',
	q{\set VERBOSITY sqlstate
	  SET mantis.load_timeout = '1s'; SELECT mantis_set('crash.1', 'x')});
like($err, qr/55000/, 'a set while loading fails with SQLSTATE 55000');
$node->safe_psql('postgres', q{COMMIT PREPARED 'hold'});
is($node->safe_psql('postgres', q{SELECT mantis_get('crash.1')}), 'c1',
	'once loaded, the value is back');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM generate_series(1, 5000) i WHERE mantis_get('crash.' || i) = 'c' || i}),
	'5000', 'all 5,000 keys are back after the crash restart');

# --- the worker, told to stop, comes back and keeps flushing --------------
my $pid = wait_for_worker($node);
kill 'TERM', $pid;
my $new_pid = wait_for_worker($node, $pid);
isnt($new_pid, $pid, "the worker came back (pid $pid -> $new_pid)");
$node->safe_psql('postgres', q{SELECT mantis_set('after.term', 'yes')});
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM mantis_stores, mantis_decode(registers) d WHERE d.key = 'after.term'})
  or die 'no flush after the worker restarted';
pass('the restarted worker flushes on its own');

# a cancelled worker (an ERROR outside a flush) also comes back
$node->safe_psql('postgres', qq{SELECT pg_cancel_backend($new_pid)});
my $third = wait_for_worker($node, $new_pid);
isnt($third, $new_pid, 'a worker stopped by an ERROR is restarted');

# --- SIGHUP: mantis.flush_interval = 0 turns periodic flushes off ---------
$node->safe_psql('postgres', q{ALTER SYSTEM SET mantis.flush_interval = 0; SELECT pg_reload_conf()});
$node->safe_psql('postgres', q{SELECT mantis_flush()});
$node->safe_psql('postgres', q{SELECT mantis_set('manual.only', '1')});
sleep 2;
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM mantis_stores, mantis_decode(registers) d WHERE d.key = 'manual.only'}),
	'0', 'with flush_interval = 0 nothing is flushed on its own');
is($node->safe_psql('postgres', q{SELECT mantis_flush()}), '1',
	'mantis_flush() writes the one pending register');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM mantis_stores, mantis_decode(registers) d WHERE d.key = 'manual.only'}),
	'1', 'and it is in mantis_stores once mantis_flush() returns');
is($node->safe_psql('postgres', q{SELECT mantis_flush()}), '0',
	'a flush with nothing changed writes nothing');

# --- 2,000 flush cycles: this node's rows stay bounded --------------------
$node->safe_psql('postgres', q{ALTER SYSTEM SET mantis.compact_rows = 50; SELECT pg_reload_conf()});
my $max_rows = $node->safe_psql('postgres', q{
	CREATE TEMP TABLE seen (n int);
	DO $$
	BEGIN
	  FOR i IN 1..2000 LOOP
	    PERFORM mantis_set('cycle.' || (i % 300), i::text);
	    IF i % 7 = 0 THEN PERFORM mantis_delete('cycle.' || (i % 11)); END IF;
	    PERFORM mantis_flush();
	    INSERT INTO seen SELECT stored_rows::int FROM mantis_status;
	  END LOOP;
	END $$;
	SELECT max(n) FROM seen});
cmp_ok($max_rows, '<=', 51, "this node's rows never exceeded compact_rows + 1 ($max_rows)");
my $rows = $node->safe_psql('postgres', q{SELECT count(*) FROM mantis_stores});
cmp_ok($rows, '<=', 51, "mantis_stores holds $rows rows after 2,000 flushes");
# the deletion markers are collected once flushed (no peers; with
# flush_interval = 0, by mantis_flush(): the DO block's writes were applied
# at its COMMIT, after its last flush): wait for that
$node->safe_psql('postgres', 'SELECT mantis_flush()');
ok($node->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status}),
	'every deletion marker is collected once flushed');
$before = registers_dump($node);
$node->restart;
is(registers_dump($node), $before,
	'loading the compacted rows gives exactly the same registers: no collected marker comes back');

# --- hostile rows are logged and skipped; the rest loads -------------------
$node->safe_psql('postgres', q{
	INSERT INTO mantis_stores (clock, node, registers) VALUES
	  ('x', 'evil', decode(md5('a') || md5('b') || md5('c'), 'hex')),
	  ('x', 'evil', decode('4d4e5453010000000000000100000010', 'hex')),
	  ('x', 'evil', decode('4d4e54530100000000000001ffffffff01', 'hex')),
	  ('x', 'evil', decode('4d4e5453020000000000000000', 'hex')),
	  ('x', 'evil', '\x'),
	  ('x', 'evil', (SELECT substring(registers FROM 1 FOR octet_length(registers) - 3)
	                   FROM mantis_stores WHERE node = 'p1' ORDER BY id DESC LIMIT 1))});
# the running worker follows the table: it reads the new rows within a second
my $skip_re = qr/mantis skipped row \d+ of public\.mantis_stores \(node "evil"\)/;
$node->wait_for_log(qr/(?:$skip_re.*?){6}/s);
is(registers_dump($node), $before, 'the running worker skipped the hostile rows added by hand');
# and a start loads around them: count the skips after the restart's load line
my $restart_at = -s $node->logfile;
$node->restart;
$node->wait_for_log(qr/mantis loaded \d+ registers from \d+ rows/, $restart_at);
my $skips = () = slurp_file($node->logfile, $restart_at) =~ /$skip_re/g;
is($skips, 6, 'each of the 6 hostile rows was logged and skipped at start');
is(registers_dump($node), $before, 'the good rows loaded in full beside them');
ok($node->safe_psql('postgres', 'SELECT true'), 'the server is up');
$node->safe_psql('postgres', q{DELETE FROM mantis_stores WHERE node = 'evil'});

# --- the extension created after start: persistence begins then -----------
my $late = PostgreSQL::Test::Cluster->new('late');
$late->init;
$late->append_conf('postgresql.conf', qq{
restart_after_crash = on
shared_preload_libraries = 'mantis'
shared_buffers = 32MB
mantis.node_name = 'late'
});
$late->start;
$late->safe_psql('postgres', 'CREATE DATABASE app');
$late->safe_psql('app', 'CREATE EXTENSION mantis');
$late->safe_psql('app', q{SELECT mantis_set('early', 'before the table existed')});
is($late->safe_psql('app', 'SELECT persistence FROM mantis_status'),
	'waiting for CREATE EXTENSION in database "postgres"', 'the worker waits for the extension in mantis.database, and says which');
ok(!$late->log_contains('ERROR'), 'without an error');
ok($late->wait_for_log(qr/WARNING:  mantis persistence is off: it waits for CREATE EXTENSION mantis in database "postgres"/),
	'the worker warns that the extension is in another database (037 checks it)');
$late->safe_psql('postgres', 'CREATE EXTENSION mantis');
$late->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM mantis_stores, mantis_decode(registers) d WHERE d.key = 'early'})
  or die 'nothing flushed after CREATE EXTENSION';
pass('persistence began without a restart');
$late->restart;
is($late->safe_psql('app', q{SELECT mantis_get('early')}), 'before the table existed',
	'and the value written before it survives a restart');
$late->stop;

# --- postmaster death: the worker exits at once ----------------------------
$pid = worker_pid($node);
my $pm = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time() IS NOT NULL');
$node->kill9;
my $gone = 0;
for (1 .. 50)
{
	if (!kill 0, $pid) { $gone = 1; last; }
	select(undef, undef, undef, 0.1);
}
ok($gone, 'the worker exits within 5 s of the postmaster dying');
$node->start;
is($node->safe_psql('postgres', q{SELECT mantis_get('manual.only')}), '1',
	'and the store is loaded again after the restart');
$node->stop;

done_testing();
