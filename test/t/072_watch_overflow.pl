# The change log overflowing (issue 21, "Tests"): with mantis.watch_memory
# at its least (64kB, about 1,100 entries), a cursor whose entries were
# evicted is answered by a scan of the store, with every change made after
# it, or fails with MT001 when a deletion's entry went (its key may be
# known only by its hash): never a silently incomplete answer.  A follower
# reading while a writer evicts under it misses nothing.  A mantis_wait
# whose change was evicted before the watch worker read it is woken all
# the same.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;
use MantisWatch;

my $n1 = mantis_node('n1', q{
mantis.watch_memory = '64kB'
mantis.max_keys = 100000
mantis.flush_interval = '100ms'
autovacuum = off
});

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }
sub cursor { return sql($n1, 'SELECT mantis_cursor()') }

# n keys "prefix<i>" set to "v<i>", in statements of 1,000, each its own commit
sub write_keys
{
	my ($prefix, $n) = @_;
	for (my $from = 1; $from <= $n; $from += 1000)
	{
		my $to = $from + 999 < $n ? $from + 999 : $n;
		sql($n1, qq{SELECT count(mantis_set('$prefix' || i, 'v' || i)) FROM generate_series($from, $to) i});
	}
}

sub expect_keys
{
	my ($prefix, $n) = @_;
	return { map { ("$prefix$_" => "v$_") } 1 .. $n };
}

# --- writes only: the scan answers, with every one --------------------------------
my $c1 = cursor();
write_keys('o.w.', 5000);    # 5,000 entries of 56 bytes: five times the log
is(feed_sqlstate($n1, $c1, 'o.'), '', 'a cursor whose entries the log evicted is answered');
my $a = feed($n1, $c1, 'o.');
is($a->{n}, 5000, 'with a row per key written after it');
is_deeply($a->{rows}, expect_keys('o.w.', 5000), '... each as written');
is(feed($n1, $c1, 'o.w.4999')->{n}, 1, 'under a prefix too');

# --- deletions evicted: MT001, or every change ----------------------------------------
my $c2 = cursor();
sql($n1, q{SELECT count(mantis_delete('o.w.' || i)) FROM generate_series(1, 100) i});
write_keys('o.x.', 5000);
my $state = feed_sqlstate($n1, $c2, 'o.');
note('deletions evicted: ' . ($state || 'answered'));
if ($state eq '')
{
	my $rows = feed($n1, $c2, 'o.')->{rows};
	my %want = (%{ expect_keys('o.x.', 5000) }, map { ("o.w.$_" => '<deleted>') } 1 .. 100);
	is_deeply($rows, \%want, 'an answer after evicted deletions has every change');
}
else
{
	is($state, 'MT001', 'a cursor older than evicted deletions fails with MT001');
}
is(feed_sqlstate($n1, $c2, 'o.w.1'), $state, 'the same under a prefix (never silently incomplete)');
my ($snap) = follow($n1, undef, 'o.w.');
is(scalar(keys %$snap), 4900, 'a reload from NULL has the 4,900 keys left');

# --- a follower reading while a writer evicts under it ------------------------------------
my %seen;
my $cursor = cursor();
# each write applies at once; a pause each 200 lets the follower in between
my $writer = start_wait($n1, q{SET mantis.transactional = off;
DO $$ BEGIN FOR i IN 1 .. 20000 LOOP
  PERFORM mantis_set('o.s.' || i, 'v' || i);
  IF i % 200 = 0 THEN PERFORM pg_sleep(0.005); END IF;
END LOOP; END $$});
# as a client does: a follower the writer outruns (the log moved past its
# cursor, and a deletion of the part above died after the cursor's HLC,
# which trails the clock by up to a sweep) gets MT001 and loads again
my ($answers, $reloads, $other) = (0, 0, 0);
while (1)
{
	my $done = wait_finished($writer);
	my $state = feed_sqlstate($n1, $cursor, 'o.s.');
	if ($state eq 'MT001')
	{
		my $before = cursor();    # before the snapshot: nothing between is missed
		my ($snap, $next) = follow($n1, undef, 'o.s.');
		%seen = %$snap;
		$cursor = $next // $before;
		$reloads++;
	}
	elsif ($state ne '')
	{
		$other++;
		diag("follower: $state");
		last;
	}
	else
	{
		my ($rows, $next, $k) = eval { follow($n1, $cursor, 'o.s.') };
		next unless defined $rows;    # MT001 since the look above: again
		%seen = (%seen, %$rows);
		$cursor = $next;
		$answers += $k;
	}
	last if $done;
}
my ($out, $err) = finish_wait($writer);
is($err, '', 'the writer wrote 20,000 keys');
is($other, 0, 'the follower was answered every time, or told MT001');
note("the follower read $answers answers, and loaded everything again $reloads times");
# what the writer wrote after the last look (the writer is done: no MT001
# can come of writes made since)
my ($rows) = follow($n1, $cursor, 'o.s.');
%seen = (%seen, %$rows);
is_deeply(\%seen, expect_keys('o.s.', 20000), 'and learned every key, each as written');

# --- a scan while a writer evicts: answered every time -----------------------------------
# (once the log is full, each append evicts its oldest entry, which a scan
# copying the whole log from there would lose)
my $other_run = sql($n1, q{SELECT overlay(mantis_cursor() placing 'feedfeedfeedfeed' from 22 for 16)});
$writer = start_wait($n1, q{SET mantis.transactional = off;
DO $$ BEGIN FOR i IN 1 .. 10000000 LOOP
  PERFORM mantis_set('o.t.' || i % 5000, 'v' || i);
  EXIT WHEN i % 100 = 0 AND mantis_get('o.t.stop') IS NOT NULL;
END LOOP; END $$});
$n1->poll_query_until('postgres', q{SELECT count(*) >= 5000 FROM mantis_registers('o.t.')})
  or die 'the writer never wrote';
my @states = map { feed_sqlstate($n1, $other_run, 'o.t.') } 1 .. 10;
ok(!wait_finished($writer), 'a writer evicts all along');
sql($n1, q{SET mantis.transactional = off; SELECT mantis_set('o.t.stop', 'stop')});
finish_wait($writer);
is(join(' ', map { $_ || 'answered' } @states), join(' ', ('answered') x 10),
	'a scan (a cursor of another run) is answered all the same, ten times');

# --- a wait whose change was evicted before the watch worker read it ---------------------
my $watch_pid = sql($n1, q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'mantis watch'});
ok($watch_pid =~ /^\d+$/, 'the watch worker runs');
my $w = start_wait($n1, q{SELECT key, value FROM mantis_wait(mantis_cursor(), 'o.z.', '60 s')});
wait_sleeping($w) or die 'the wait never slept';
kill 'STOP', $watch_pid or die "cannot stop the watch worker: $!";
sql($n1, q{SELECT mantis_set('o.z.1', 'evicted unread')});
write_keys('o.y.', 3000);
my $resumed = time();
kill 'CONT', $watch_pid;
($out, $err) = finish_wait($w);
my $took = time() - $resumed;
is($out, 'o.z.1|evicted unread', 'the wait returns the change evicted before the worker read it');
ok($took < 5, sprintf('... as soon as the worker runs again (in %.2f s; the wait was for 60)', $took));

$n1->stop;
done_testing();

END { kill 'CONT', $watch_pid if $watch_pid && $watch_pid =~ /^\d+$/ }
