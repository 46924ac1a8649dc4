# 076_watch_review.pl — two holes of the change feed found in review.
#
# 1. A cursor's held_ts must be below the HLC of every write made after
#    it: a write in the same millisecond as mantis_cursor() took exactly
#    the clock it read (mantis_clock_peek() issues nothing), so a scan
#    from that cursor (another server, or this one after a restart)
#    skipped it.  The scan is forced here by another run in the cursor.
# 2. The watch worker, finding that the log evicted entries before it
#    read them, must wake every waiter: it skipped to the oldest entry
#    held, and a waiter whose change was among the evicted slept to its
#    timeout.  The worker is stopped (SIGSTOP) while the log wraps.
# 3. A cursor's held_ts vouches for the expiries through its millisecond,
#    but an answer from the log returns an expiry only once the sweep has
#    logged it: a cursor taken between the expiry and the sweep made a
#    scan from it skip the expiry.  The sweep (the persistence worker) is
#    held back with SIGSTOP.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use MantisTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = mantis_node('n1', "mantis.watch_memory = 64\n");

# ---- 1: a write in the cursor's millisecond ----
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION misses(int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	c text;
	n int;
	missed int := 0;
BEGIN
	SET LOCAL mantis.transactional = off;
	FOR i IN 1..$1 LOOP
		c := mantis_cursor();
		PERFORM mantis_set('ms/' || i || '/', 'v');
		-- the same cursor of another run: answered by a scan of held_ts
		c := overlay(c PLACING '0000000000000000' FROM 22 FOR 16);
		SELECT count(*) INTO n FROM mantis_changes(c, 'ms/' || i || '/');
		IF n = 0 THEN
			missed := missed + 1;
		END IF;
	END LOOP;
	RETURN missed;
END $$});
is($node->safe_psql('postgres', 'SELECT misses(3000)'),
	'0', 'a scan from a cursor returns every write made after it');

# ---- 2: entries evicted before the watch worker read them ----
my $watch = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'mantis watch'});
ok($watch ne '', 'the watch worker runs');
# each worker waits under its own name (PostgreSQL 17 and later)
for ([ 'mantis watch', 'MantisWatchMain' ], [ 'mantis worker', 'MantisPersistMain' ])
{
	my ($type, $name) = @$_;
	my $shown = wait_event_name($name);
	ok($node->poll_query_until('postgres',
			"SELECT wait_event_type = 'Extension' AND wait_event = '$shown' FROM pg_stat_activity WHERE backend_type = '$type'"),
		"$type waits as $shown");
}

my $bg = $node->background_psql('postgres');
my $bg_pid = $bg->query_safe('SELECT pg_backend_pid()');
my $start = time();
$bg->{stdin} .= q{CREATE TABLE waited AS SELECT count(*) AS n FROM mantis_wait(mantis_cursor(), 'w/', '90 seconds');} . "\n";
$bg->{run}->pump_nb;
my $waits = wait_event_name('MantisWait');
$node->poll_query_until('postgres',
	"SELECT wait_event_type = 'Extension' AND wait_event = '$waits' FROM pg_stat_activity WHERE pid = $bg_pid")
  or die "the session did not wait (wait_event $waits)";

kill 'STOP', $watch;
note sprintf('stopped at %.3f', time() - $start);
$node->safe_psql(
	'postgres', q{
SET mantis.transactional = off;
SELECT mantis_set('w/1', 'v');
SELECT count(mantis_set('x/' || i, 'v')) FROM generate_series(1, 5000) i;});
note sprintf('writes done at %.3f', time() - $start);
kill 'CONT', $watch;
my $woken_from = time();

$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $bg_pid AND state = 'active'")
  or die 'the session did not return';
my $took = time() - $woken_from;
is($node->safe_psql('postgres', 'SELECT n FROM waited'),
	'1', 'the waiter returned the change the log evicted');
cmp_ok($took, '<', 5, 'the waiter was woken at once, not by chance or its timeout');
$bg->quit;

# ---- 3: an expiry the sweep has not logged yet ----
my $persist = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'mantis worker'});
kill 'STOP', $persist;
my $c1 = $node->safe_psql(
	'postgres', q{
SET mantis.transactional = off;
SELECT mantis_set('e/1', 'v', '1 second');
SELECT mantis_cursor();});
$c1 = (split /\n/, $c1)[-1];
$node->poll_query_until('postgres', q{SELECT mantis_get('e/1') IS NULL})
  or die 'e/1 did not expire';
# from the log: the sweep has not said the expiry yet
my $c2 = $node->safe_psql('postgres',
	"SELECT coalesce(max(cursor), mantis_cursor()) FROM mantis_changes('$c1', 'e/')");
kill 'CONT', $persist;
# the sweep logs it: the log's answer from c2 names it now
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM mantis_changes('$c2', 'e/')")
  or die 'the sweep did not log the expiry';
my $other_run = $c2;
substr($other_run, 21, 16) = '0000000000000000';
is($node->safe_psql('postgres',
		"SELECT count(*) FROM mantis_changes('$other_run', 'e/') WHERE deleted"),
	'1', 'a scan from a cursor taken before the sweep returns the expiry');

$node->stop;
done_testing();
