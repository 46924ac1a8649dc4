# NOTIFY for those who prefer LISTEN (issue 21, item 3; watch/notify.c).
# With mantis.notify_channel set, the watch worker raises NOTIFY <channel>,
# '<key>' in mantis.database for every change applied, in a transaction
# of its own.  A LISTEN session (DBD::Pg) checks what a user relies on:
# every key changed arrives at least once, a local write and one
# replicated from a peer alike; a rolled-back write notifies nothing; no
# channel, no notification; a reload that sets or changes the channel takes
# effect; a NOTIFY transaction that fails is retried, and a watch worker
# that restarts resumes where it stopped (the keys written meanwhile
# arrive); the reload marker (an empty payload) comes after the log
# evicted entries the worker had not read, and for a key too long for a
# payload (8000 bytes or more).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DBI;
use DBD::Pg qw(:async);
use MantisTest;

# n1 notifies from the start (a small change log, so that it can overflow,
# and keys longer than a payload); n2 has no channel until a reload sets it
my $c = mantis_cluster(2, qq{
mantis.max_key_size = '16kB'
}, node_conf => {
	1 => qq{
mantis.notify_channel = 'mantis_changes'
mantis.watch_memory = '64kB'
} });
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub connect_to
{
	my ($n) = @_;
	return DBI->connect('dbi:Pg:dbname=postgres;host=' . $n->host . ';port=' . $n->port,
		undef, undef, { AutoCommit => 1, RaiseError => 1, PrintError => 0 });
}

# a LISTEN session: every notification it got, as [channel, payload]
sub listener
{
	my ($n, @channels) = @_;
	my $l = { dbh => connect_to($n), got => [] };
	$l->{dbh}->do("LISTEN $_") for @channels;
	return $l;
}

sub drain
{
	my ($l) = @_;
	while (my $n = $l->{dbh}->pg_notifies)
	{
		push @{ $l->{got} }, [ $n->[0], $n->[2] ];
	}
}

# how many notifications of this key (payload) the session got on channel
sub got
{
	my ($l, $channel, $key) = @_;
	drain($l);
	return scalar grep { $_->[0] eq $channel && $_->[1] eq $key } @{ $l->{got} };
}

# until done() or the deadline (seconds; the default timeout if not
# given): waits on the session's socket.  Returns done()'s last answer.
sub listen_until
{
	my ($l, $done, $seconds) = @_;
	my $deadline = time() + ($seconds // $PostgreSQL::Test::Utils::timeout_default);
	for (;;)
	{
		drain($l);
		my $ok = $done->();
		return $ok if $ok || time() > $deadline;
		my $rin = '';
		vec($rin, $l->{dbh}->{pg_socket}, 1) = 1;
		select($rin, undef, undef, 0.2);
	}
}

sub arrives
{
	my ($l, $channel, @keys) = @_;
	return listen_until($l, sub { !grep { got($l, $channel, $_) == 0 } @keys });
}

# the channel is a name LISTEN takes unquoted
for my $bad ('Upper', '9lives', 'a-b', 'x' x 64)
{
	my ($rc, $out, $err) = $n1->psql('postgres', "ALTER SYSTEM SET mantis.notify_channel = '$bad'");
	like($err, qr/invalid value for parameter "mantis.notify_channel"/, "channel '$bad' refused");
}
sql($n1, "ALTER SYSTEM SET mantis.notify_channel = '" . ('x' x 63) . "'");
sql($n1, 'ALTER SYSTEM RESET mantis.notify_channel');

my $l1 = listener($n1, 'mantis_changes', 'renamed');

# a local write, a replicated one, each key of a burst
sql($n1, q{SELECT mantis_set('local', '1')});
ok(arrives($l1, 'mantis_changes', 'local'), 'a local write notifies its key');
sql($n2, q{SELECT mantis_set('from_n2', '1')});
ok(arrives($l1, 'mantis_changes', 'from_n2'), 'a write replicated from a peer notifies its key');
sql($n1, join('', map { "SELECT mantis_set('burst', '$_');\n" } 1 .. 10)
	  . q{SELECT mantis_set('burst_' || i, 'x') FROM generate_series(1, 50) i;
	      SELECT mantis_delete('local');});
ok(arrives($l1, 'mantis_changes', 'burst', map({ "burst_$_" } 1 .. 50), 'local'),
	'every key of a burst arrives, a deletion too');
note('"burst", written 10 times, notified ' . got($l1, 'mantis_changes', 'burst') . ' times');

# a rolled-back write notifies nothing: the write after it arrives, and
# it would have come first (one log, notified in order)
sql($n1, q{BEGIN; SELECT mantis_set('rolled_back', '1'); ROLLBACK;});
sql($n1, q{SELECT mantis_set('after_rollback', '1')});
ok(arrives($l1, 'mantis_changes', 'after_rollback'), 'the write after a rollback arrives');
is(got($l1, 'mantis_changes', 'rolled_back'), 0, 'a rolled-back write notifies nothing');

# The longest payload is 7999 bytes: such a key arrives whole, a longer
# one as the reload marker
my $k7999 = 'a' x 7999;
sql($n1, qq{SELECT mantis_set('$k7999', '1')});
ok(arrives($l1, 'mantis_changes', $k7999), 'a key of 7999 bytes arrives whole');
sql($n1, q{SELECT mantis_set(repeat('b', 9000), '1')});
sql($n1, q{SELECT mantis_set('after_long', '1')});
ok(arrives($l1, 'mantis_changes', 'after_long', ''), 'a key of 9000 bytes: the reload marker');
is(scalar(grep { length($_->[1]) > 7999 } @{ $l1->{got} }), 0, 'no payload beyond 7999 bytes');

# ---- n2: no channel, no notification ----
#
# The witness that n2's watch worker has read an entry: a mantis_wait()
# on its key returns (the worker wakes it).  A pass of the worker wakes
# waiters, then notifies: once a waiter woken after the write of "quiet"
# returns, and then a second one woken by a later write, the pass that
# read "quiet" has notified what it would.
my $l2 = listener($n2, 'mantis_changes');

sub worker_passed
{
	my ($n, $key) = @_;
	my $w = connect_to($n);
	my $cursor = sql($n, 'SELECT mantis_cursor()');
	my $sth = $w->prepare(qq{SELECT count(*) FROM mantis_wait('$cursor', '$key', '60 s')},
		{ pg_async => PG_ASYNC });
	$sth->execute;
	$n->poll_query_until('postgres', qq{SELECT count(*) = 1 FROM pg_stat_activity
	    WHERE wait_event_type = 'Extension' AND query LIKE '%mantis_wait(%$key%'})
	  or die 'mantis_wait did not wait';
	sql($n, qq{SELECT mantis_set('$key', '1')});
	$sth->pg_result;
	my ($count) = $sth->fetchrow_array;
	$sth->finish;
	$w->disconnect;
	return $count;
}

sql($n2, q{SELECT mantis_set('quiet', '1')});
is(worker_passed($n2, 'witness_1'), 1, 'n2: a waiter woken after the write');
is(worker_passed($n2, 'witness_2'), 1, 'n2: and one more');
$l2->{dbh}->do('SELECT 1');
drain($l2);
is(scalar(@{ $l2->{got} }), 0, 'no channel: no notification');

# a reload that sets the channel takes effect: probes until one arrives
$n2->append_conf('postgresql.conf', "mantis.notify_channel = 'mantis_changes'\n");
$n2->reload;
my $probe = 0;
ok( listen_until(
		$l2,
		sub {
			return 1 if got($l2, 'mantis_changes', "probe_$probe");
			$probe++;
			sql($n2, "SELECT mantis_set('probe_$probe', '1')");
			return 0;
		}),
	'a reload that sets the channel takes effect');
sql($n2, q{SELECT mantis_set('now_on', '1')});
ok(arrives($l2, 'mantis_changes', 'now_on'), 'then every write notifies');

# ---- n1: a reload that changes the channel ----
$n1->append_conf('postgresql.conf', "mantis.notify_channel = 'renamed'\n");
$n1->reload;
$probe = 0;
ok( listen_until(
		$l1,
		sub {
			return 1 if got($l1, 'renamed', "rprobe_$probe");
			$probe++;
			sql($n1, "SELECT mantis_set('rprobe_$probe', '1')");
			return 0;
		}),
	'a reload that changes the channel takes effect');
sql($n1, q{SELECT mantis_set('on_renamed', '1')});
ok(arrives($l1, 'renamed', 'on_renamed'), 'a write notifies on the new channel');
is(got($l1, 'mantis_changes', 'on_renamed'), 0, 'and not on the old one');

# ---- a NOTIFY transaction that fails is tried again ----
#
# While mantis.debug_fail_notify is on, every transaction fails before it
# commits.  Probes until one failure is logged: the probe of that batch,
# and whatever is written while it fails, arrive once it is off.
my $log_at = -s $n1->logfile;
$n1->append_conf('postgresql.conf', "mantis.debug_fail_notify = on\n");
$n1->reload;
my @fprobes;
my $failed = sub { $n1->log_contains('mantis NOTIFY failed', $log_at) };
for my $i (1 .. 100)
{
	push @fprobes, "fprobe_$i";
	sql($n1, "SELECT mantis_set('fprobe_$i', '1')");
	listen_until($l1, sub { got($l1, 'renamed', "fprobe_$i") || $failed->() }, 5);
	last if $failed->();
}
ok($failed->(), 'a NOTIFY transaction failed');
sql($n1, q{SELECT mantis_set('while_failing', '1')});
$n1->wait_for_log(qr/will notify the changes after seq/, $log_at);
$n1->append_conf('postgresql.conf', "mantis.debug_fail_notify = off\n");
$n1->reload;
ok(arrives($l1, 'renamed', @fprobes, 'while_failing'),
	'the keys of the failed transaction, and those after it, arrive once it succeeds');

# ---- a watch worker that restarts resumes where it stopped ----
my $watch_pid = sql($n1, q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'mantis watch'});
ok($watch_pid, 'the watch worker runs');
kill 'TERM', $watch_pid;
$n1->poll_query_until('postgres',
	qq{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'mantis watch' AND pid = $watch_pid})
  or die 'the watch worker did not exit';
sql($n1, q{SELECT mantis_set('while_down', '1')});
ok(arrives($l1, 'renamed', 'while_down'), 'a key written while the watch worker was down arrives');

# ---- the log evicted entries the worker had not read: the reload marker ----
#
# The worker fails again while 3000 keys overflow the 64kB log; once it
# succeeds, what it missed is said by the marker.
my $markers = got($l1, 'renamed', '');
$log_at = -s $n1->logfile;
$n1->append_conf('postgresql.conf', "mantis.debug_fail_notify = on\n");
$n1->reload;
$probe = 0;
listen_until(
	$l1,
	sub {
		return 1 if $n1->log_contains('mantis NOTIFY failed', $log_at);
		$probe++;
		sql($n1, "SELECT mantis_set('oprobe_$probe', '1')");
		return 0;
	}) or die 'NOTIFY did not fail';
sql($n1, q{SELECT count(mantis_set('overflow_' || i, 'x')) FROM generate_series(1, 3000) i});
$n1->append_conf('postgresql.conf', "mantis.debug_fail_notify = off\n");
$n1->reload;
sql($n1, q{SELECT mantis_set('after_overflow', '1')});
ok(arrives($l1, 'renamed', 'after_overflow'), 'the write after the overflow arrives');
ok(got($l1, 'renamed', '') > $markers, 'the overflow: the reload marker');

$l1->{dbh}->disconnect;
$l2->{dbh}->disconnect;
$_->stop for ($n1, $n2);
done_testing();
