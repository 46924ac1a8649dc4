# A backend whose postmaster is gone acknowledges no mantis write (issue 20,
# item 5).  After kill -9 of a postmaster its backends serve their clients
# until they next wait for one, but the workers that replicate and persist
# mantis writes die with it, and the shared memory holding the writes goes
# with the last backend: a write acknowledged then is lost.
#
# Four sessions stream writes, two applied at once (mantis.transactional
# off) and two in a transaction each (BEGIN, mantis_set, COMMIT), every
# session as one multi-statement query (psql's \;), so that its backend
# never waits for its client and would go on writing after the death (a
# backend waiting for its client notices the death and exits by itself).
# Each write is preceded, in the same statement, by the server's clock
# (clock_timestamp(), read before the write).  The postmaster is killed
# while they write, and the test notes when it is seen dead: its process a
# zombie or gone (/proc).  The kernel marks it so only after it has closed
# the postmaster's end of the pipe its children watch and sent them the
# death signal (PR_SET_PDEATHSIG), so every check a backend makes after
# that instant sees the death.  Then no write whose statement began after
# that instant (+ $margin) may have been acknowledged: for a write applied
# at once, its row returned; for a transaction, its COMMIT (the row that
# follows it returned).
#
# A streaming session's backend may still be waiting to send it rows when
# the postmaster dies, and notice the death there (FATAL) rather than in
# mantis: the faster the writes, the more often.  So one more session
# writes in a single statement that returns nothing until it ends, long
# after the kill: its backend never waits, and must be refused by mantis
# (57P01) at its first write after the death.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use IPC::Run;
use MantisTest;

# Seconds after the death was seen within which a statement begun may
# still pass a check: none in principle (see above); 5 ms for the clocks,
# the server's and ours being the same system clock read in two processes.
my $margin = 0.005;
my $nsessions = 4;
# writes per session: far more than run before the kill (those applied at
# once go about three times faster)
my %nwrites = (1 => 20000, 0 => 40000);

my $node = mantis_node('n1', qq{
mantis.max_keys = 100000
log_statement = none
});
my $dir = PostgreSQL::Test::Utils::tempdir();
my $ms = q{(extract(epoch FROM clock_timestamp()) * 1000)};

# the sessions begin together: each first waits for an advisory lock held
# here until all of them wait (psql takes seconds to read its long line)
my $gate = $node->background_psql('postgres');
$gate->query_safe('SELECT pg_advisory_lock(4242)');

# session s: transactional if s is odd
my (@runs, @out, @err);
for my $s (1 .. $nsessions)
{
	my $tx = $s % 2;
	my @stmts = ('SELECT pg_advisory_lock_shared(4242)');
	for my $i (1 .. $nwrites{$tx})
	{
		my $k = "dying.$s." . ($i % 2000);
		if ($tx)
		{
			push @stmts, 'BEGIN', "SELECT 'w', $i, $ms, mantis_set('$k', '$i')",
			  'COMMIT', "SELECT 'c', $i, $ms";
		}
		else
		{
			push @stmts, "SELECT 'w', $i, $ms, mantis_set('$k', '$i')";
		}
	}
	my $file = "$dir/session$s.sql";
	open(my $fh, '>', $file) or die "$file: $!";
	# one line, joined by \; : psql sends it as one query
	print $fh join(' \; ', @stmts) . ";\n";
	close $fh;
	# into files: a pipe we do not read would stall psql, and its backend
	# would wait for it (and notice the death there)
	$runs[$s] = IPC::Run::start(
		[ 'psql', '-X', '-At', '-v', 'VERBOSITY=verbose', '-f', $file,
		  '-d', $node->connstr('postgres')
			. " options='-c mantis.transactional=" . ($tx ? 'on' : 'off') . "'" ],
		'>', "$file.out", '2>', "$file.err");
}

# the session that never waits for its client (see above): transactional
# off, its writes go on until the death
my $busy_file = "$dir/busy.sql";
open(my $bfh, '>', $busy_file) or die "$busy_file: $!";
print $bfh "SELECT pg_advisory_lock_shared(4242) \\; "
  . "SELECT count(mantis_set('dying.busy.' || (g % 1000), g::text)) FROM (SELECT generate_series(1, 1000000000000) g) s;\n";
close $bfh;
my $busy = IPC::Run::start(
	[ 'psql', '-X', '-At', '-v', 'VERBOSITY=verbose', '-f', $busy_file,
	  '-d', $node->connstr('postgres') . " options='-c mantis.transactional=off'" ],
	'>', "$busy_file.out", '2>', "$busy_file.err");

$node->poll_query_until('postgres',
	q{SELECT count(*) = } . ($nsessions + 1) . q{ FROM pg_locks WHERE locktype = 'advisory' AND NOT granted})
  or die 'the sessions did not start';
$gate->query_safe('SELECT pg_advisory_unlock(4242)');
$gate->quit;

# every session has written its 200th write, and none has finished: the
# kill must come before the quickest has written its whole stream, so the
# wait reads one key a session (no scan) in a tight loop, not every 100 ms
# (on a loaded machine both transactional sessions once finished their
# 10,000 writes before poll_query_until had seen the last one reach 100)
my $written = $node->background_psql('postgres');
my $begun = 'SELECT ' . join(' AND ', map { "mantis_get('dying.$_.200') IS NOT NULL" } 1 .. $nsessions)
  . q{ AND mantis_get('dying.busy.999') IS NOT NULL};
my $write_by = time() + $PostgreSQL::Test::Utils::timeout_default;
until ($written->query_safe($begun) =~ /t/)
{
	die 'the sessions did not write' if time() > $write_by;
	usleep(1000);
}
$written->quit;

my $pm = $node->{_pid} or die 'no postmaster pid';
my @children = grep { /^\d+$/ } split /\s+/, `pgrep -P $pm`;
my $t_kill = time();
$node->kill9;
my $dead_by = time() + $PostgreSQL::Test::Utils::timeout_default;
usleep(100) while alive($pm) && time() < $dead_by;
die "the killed postmaster $pm is still alive" if alive($pm);
my $t_dead = time();
note(sprintf('the postmaster seen dead %.1f ms after the kill', 1000 * ($t_dead - $t_kill)));

for my $s (1 .. $nsessions)
{
	$runs[$s]->finish;
	$out[$s] = slurp_file("$dir/session$s.sql.out");
	$err[$s] = slurp_file("$dir/session$s.sql.err");
}
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
usleep(20_000) while grep({ alive($_) } @children) && time() < $deadline;
ok(!grep({ alive($_) } @children), 'every child of the killed postmaster exited');

# what each session had acknowledged: writes (row 'w' of a write applied at
# once; 'c' after a COMMIT), each with the time its statement began
my ($acked, $after, $latest) = (0, 0, undef);
my @late;
my $stopped = 0;
my $refused = 0;
for my $s (1 .. $nsessions)
{
	my $tx = $s % 2;
	my (%began, $n, $last);
	for my $line (split /\n/, $out[$s])
	{
		my ($kind, $i, $t) = split /\|/, $line;
		next unless defined $t;
		$t /= 1000;
		if ($kind eq 'w')
		{
			$began{$i} = $t;
			next if $tx;    # acknowledged by the COMMIT, if at all
		}
		elsif ($kind ne 'c') { next }
		$acked++;
		$n++;
		$last = $i;
		my $begun = $began{$i};
		$latest = $begun if !defined $latest || $begun > $latest;
		if ($begun > $t_dead + $margin)
		{
			$after++;
			push @late, sprintf('session %d (%s): write %d begun %.1f ms after the death was seen, acknowledged',
				$s, $tx ? 'transactional' : 'at once', $i, 1000 * ($begun - $t_dead))
			  if @late < 10;
		}
	}
	$n //= 0;
	note(sprintf('session %d (%s): %d writes acknowledged, the last begun %s', $s,
		$tx ? 'transactional' : 'at once', $n,
		defined $last ? sprintf('%+.1f ms from the kill', 1000 * ($began{$last} - $t_kill)) : '-'));
	cmp_ok($n, '>=', 100, "session $s wrote before the kill");
	$stopped++ if ($last // 0) < $nwrites{$tx};
	$refused++ if $err[$s] =~ /57P01: the postmaster died: this (transaction's mantis )?writes? may be lost/;
	note("session $s: $_") for grep { /ERROR|WARNING|FATAL|server closed/ } split /\n/, $err[$s];
}
note(sprintf('%d writes acknowledged; the last begun %+.1f ms from the kill', $acked,
	1000 * (($latest // $t_kill) - $t_kill)));
is($after, 0,
	sprintf('no write begun more than %.0f ms after the postmaster was seen dead was acknowledged', 1000 * $margin))
  or diag(join("\n", @late));
is($stopped, $nsessions, 'no session saw its whole stream acknowledged');
$busy->finish;
my $busy_err = slurp_file("$busy_file.err");
note("busy session: $_") for grep { /ERROR|WARNING|FATAL|server closed/ } split /\n/, $busy_err;
like($busy_err, qr/57P01: the postmaster died: this write may be lost/,
	'the session that never waits for its client was refused with 57P01 at its first write after the death');
$refused++ if $busy_err =~ /57P01: the postmaster died: this write may be lost/;
cmp_ok($refused, '>=', 1, 'a session was refused with 57P01 "the postmaster died: this write may be lost"');

# the server comes back
if (-e "/proc/$pm")    # an unreaped zombie: its lock files are stale
{
	unlink($node->data_dir . '/postmaster.pid');
	unlink($node->host . '/.s.PGSQL.' . $node->port . '.lock');
}
$node->start;
$node->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
  or die 'mantis did not load again';
pass('the server restarts');
$node->stop;
done_testing();
