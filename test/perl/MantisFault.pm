# MantisFault.pm — fault injection for the Jepsen-style test
# (test/t/005_faults.pl): the writer client (test/fault/writer.c), a nemesis
# that injects one fault at a time into a mantis_cluster and heals it, and a
# checker of the writers' histories against the registers the cluster ends
# with.
package MantisFault;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

use File::Basename qw(dirname);
use POSIX ();
use Time::HiRes qw(time usleep);

use Exporter 'import';
our @EXPORT = qw(build_writer start_writers stop_writers read_writer_log
  check_history registers_dump_expiry converged_dumps server_log_problems
  postmaster_pid server_pids);

# Every kind of fault the nemesis knows.  The crash kinds lose, by design,
# the writes acknowledged by the crashed node in its last flush interval
# that no peer had yet (README, "What each way of stopping can lose").
our @FAULT_KINDS = qw(kill_worker kill_replication kill_postmaster
  restart_fast restart_immediate partition pause clock_skew
  lower_limits recreate_extension truncate_stores fail_flush failover);

my %paused;    # pid => 1 for every process we stopped and not yet continued
my %writer_pids;    # pid => 1 for every writer still running

END
{
	local $?;
	kill 'CONT', keys %paused if %paused;
	kill 'KILL', keys %writer_pids if %writer_pids;
}

# build_writer(dir) — compile test/fault/writer.c against libpq into dir;
# returns the path of the binary.
sub build_writer
{
	my ($dir) = @_;
	my $src = dirname(__FILE__) . '/../fault/writer.c';
	my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
	my ($inc, $lib) = map {
		my $v = `$pg_config --$_`;
		chomp $v;
		$v
	} qw(includedir libdir);
	my $bin = "$dir/writer";
	my @cmd = ('gcc', '-O2', '-Wall', '-o', $bin, $src, "-I$inc",
		"-L$lib", '-lpq');
	system(@cmd) == 0 or die "cannot build the writer: @cmd";
	return $bin;
}

# start_writers(bin, cluster, logdir, seed, %opts) — one writer on every node,
# writing for at most opts{seconds}; returns { node index => [pid, logfile] }.
# Options (writer.c's arguments): seconds, hot_keys, interval_us, unique_pct,
# unique_keys, ttl_pct, ttl_min_ms, ttl_max_ms, delete_pct, read_pct.
sub start_writers
{
	my ($bin, $c, $logdir, $seed, %o) = @_;
	my %w;
	for my $i (1 .. $#{ $c->{nodes} })
	{
		my $node = $c->{nodes}[$i];
		my $log = "$logdir/writer_" . $node->name . '.log';
		unlink $log;
		my @args = ($bin, $node->connstr('postgres'), $node->name,
			$o{seconds} // 60, $log, $seed, $o{hot_keys} // 100,
			$o{interval_us} // 3000, $o{unique_pct} // 0,
			$o{unique_keys} // 100000, $o{ttl_pct} // 0, $o{ttl_min_ms} // 300,
			$o{ttl_max_ms} // 3000, $o{delete_pct} // 0, $o{read_pct} // 0);
		my $pid = fork();
		die "fork: $!" unless defined $pid;
		if ($pid == 0)
		{
			exec(@args) or POSIX::_exit(127);
		}
		$writer_pids{$pid} = 1;
		$w{$i} = [ $pid, $log ];
	}
	return \%w;
}

# stop_writers(writers) — ask every writer to stop (SIGTERM: it finishes the
# call in flight, logs its outcome and exits) and wait for them; true if
# all exited by themselves with status 0.
sub stop_writers
{
	my ($w) = @_;
	my $all_ok = 1;
	kill 'TERM', map { $_->[0] } values %$w;
	for my $i (sort keys %$w)
	{
		my $pid = $w->{$i}[0];
		my $deadline = time() + 30;
		my $done = 0;
		while (time() < $deadline)
		{
			if (waitpid($pid, POSIX::WNOHANG()) == $pid)
			{
				$done = 1;
				$all_ok = 0 if $? != 0;
				last;
			}
			usleep(50_000);
		}
		if (!$done)
		{
			kill 'KILL', $pid;
			waitpid($pid, 0);
			$all_ok = 0;
		}
		delete $writer_pids{$pid};
	}
	return $all_ok;
}

# read_writer_log(path, node name) — the operations of one writer's log, in
# order, as hashes: kind (attempt, ok, fail, unknown, read, read-fail,
# read-unknown), and for writes op (set, ttl, del: mantis_delete, null:
# mantis_set(key, NULL)), key, value (undef for a deletion), ttl (ms, for an
# attempted ttl write), hlc (ok; undef when the writer could not read it
# back), expires (ok of a ttl write: the expiry in Unix seconds as read back,
# or undef), sqlstate (fail); for reads key, value (undef: NULL), start (Unix
# seconds when sent); t (Unix seconds when logged), line, node.
sub read_writer_log
{
	my ($path, $name) = @_;
	my @ops;
	open(my $fh, '<', $path) or die "cannot open $path: $!";
	while (my $l = <$fh>)
	{
		next if $l =~ /^#/;
		chomp $l;
		my @f = split / /, $l;
		die "$path:$.: truncated or malformed line: $l"
		  unless @f >= 4 && $f[-1] =~ /^\d+$/;
		my %op = (kind => $f[0], t => $f[-1] / 1000, line => $., node => $name);
		my $undash = sub { $_[0] eq '-' ? undef : $_[0] };
		if ($op{kind} =~ /^read/)
		{
			# read <key> <value|<null>> <start> <ms>, read-fail <key> <sqlstate>
			# <start> <ms>, read-unknown <key> <start> <ms>
			my $n = { read => 5, 'read-fail' => 5, 'read-unknown' => 4 }->{ $op{kind} };
			die "$path:$.: malformed line: $l" unless $n && @f == $n && $f[-2] =~ /^\d+$/;
			$op{key} = $f[1];
			$op{start} = $f[-2] / 1000;
			$op{value} = $f[2] eq '<null>' ? undef : $f[2] if $op{kind} eq 'read';
			$op{sqlstate} = $f[2] if $op{kind} eq 'read-fail';
			push @ops, \%op;
			next;
		}
		my $n = { attempt => 6, ok => 7, fail => 6, unknown => 5 }->{ $op{kind} };
		die "$path:$.: unknown line: $l" unless $n;
		die "$path:$.: malformed line: $l"
		  unless @f == $n && $f[1] =~ /^(set|ttl|del|null)$/;
		$op{op} = $f[1];
		$op{key} = $f[2];
		$op{value} = $f[3] eq '<deleted>' ? undef : $f[3];
		if ($op{kind} eq 'attempt') { $op{ttl} = $undash->($f[4]) }
		elsif ($op{kind} eq 'ok')
		{
			$op{hlc} = $undash->($f[4]);
			my $e = $undash->($f[5]);
			$op{expires} = $e / 1000 if defined $e;
		}
		elsif ($op{kind} eq 'fail') { $op{sqlstate} = $f[4] }
		push @ops, \%op;
	}
	close $fh;
	return \@ops;
}

# postmaster_pid(node) — from the data directory's postmaster.pid, or undef.
sub postmaster_pid
{
	my ($node) = @_;
	open(my $fh, '<', $node->data_dir . '/postmaster.pid') or return undef;
	my $pid = <$fh>;
	close $fh;
	chomp $pid if defined $pid;
	return $pid && $pid =~ /^\d+$/ ? $pid : undef;
}

# server_pids(node) — the postmaster's pid and its children's.
sub server_pids
{
	my ($node) = @_;
	my $pm = postmaster_pid($node) or return ();
	my @children = grep { /^\d+$/ } split /\s+/, `pgrep -P $pm`;
	return ($pm, @children);
}


# ---------------------------------------------------------------------------
# The nemesis: one fault at a time, each healed before it returns.
# ---------------------------------------------------------------------------

# MantisFault->new(cluster) — a nemesis for a mantis_cluster.
sub new
{
	my ($class, $c) = @_;
	return bless {
		c => $c,
		# mantis node names, which a promoted standby keeps
		names => [ undef, map { $_->name } @{ $c->{nodes} }[ 1 .. $#{ $c->{nodes} } ] ],
		crashes => [],    # { node, kind, from, to }: when acked writes may be lost
		faults => [],     # { node, kind, from, to }: every fault, begun to healed
		killed => {},     # pid => 1 for every process we sent SIGKILL
		counts => {},     # kind => number injected and healed
		events => [],     # [ time, text ], for diagnostics
		skewed => {},     # node index => offset in ms
	}, $class;
}

sub event
{
	my ($self, $text) = @_;
	push @{ $self->{events} }, [ time(), $text ];
}

# count of a log line in a node's server log
sub log_count
{
	my ($node, $re) = @_;
	my $n = () = slurp_file($node->logfile) =~ /$re/g;
	return $n;
}

sub backend_pid
{
	my ($node, $type) = @_;
	return $node->safe_psql('postgres',
		qq{SELECT pid FROM pg_stat_activity WHERE backend_type = '$type'});
}

# inject(kind, node index, %o) — inject a fault of that kind on that node and
# heal it; o{seconds} is how long a partition, pause or skew lasts, o{skew_ms}
# the clock offset of a skew.
sub inject
{
	my ($self, $kind, $i, %o) = @_;
	my $c = $self->{c};
	my $node = $c->{nodes}[$i];
	my $name = $node->name;
	my $secs = $o{seconds} // 1;

	my $t_begin = time();
	$self->event("$kind $name begins");
	if ($kind eq 'kill_worker' || $kind eq 'kill_replication')
	{
		my $type = $kind eq 'kill_worker' ? 'mantis worker' : 'mantis replication';
		my $pid = backend_pid($node, $type);
		die "no $type on $name" unless $pid =~ /^\d+$/;
		my $re = qr/all server processes terminated; reinitializing/;
		my $before = log_count($node, $re);
		my $t0 = time();
		kill 'KILL', $pid;
		$self->{killed}{$pid} = 1;
		# the crash restart: every process of the server ends, shared memory
		# is reinitialized, a new incarnation starts
		my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
		usleep(20_000) while log_count($node, $re) <= $before && time() < $deadline;
		die "$name did not reinitialize after SIGKILL of its $type"
		  if log_count($node, $re) <= $before;
		push @{ $self->{crashes} },
		  { node => $self->{names}[$i], kind => $kind, from => $t0, to => time() };
	}
	elsif ($kind eq 'kill_postmaster')
	{
		my ($pm, @children) = server_pids($node);
		my $t0 = time();
		$node->kill9;
		$self->{killed}{$pm} = 1;
		# the orphaned children notice the postmaster's death and exit; the
		# new postmaster could not start while they hold the shared memory
		my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
		while (grep { alive($_) } @children)
		{
			die "children of the killed postmaster of $name still run: "
			  . join(' ', grep { alive($_) } @children)
			  if time() > $deadline;
			usleep(20_000);
		}
		push @{ $self->{crashes} },
		  { node => $self->{names}[$i], kind => $kind, from => $t0, to => time() };
		# until its parent reaps it, the dead postmaster is a zombie that
		# kill(pid, 0) still finds, and the new postmaster would take the
		# lock file for that of a running server: wait, then remove the
		# file of a process that is certainly dead
		$deadline = time() + 5;
		usleep(20_000) while -e "/proc/$pm" && time() < $deadline;
		if (-e "/proc/$pm")
		{
			die "the killed postmaster $pm of $name is still alive" if alive($pm);
			unlink($node->data_dir . '/postmaster.pid');
			$self->event("$name: postmaster $pm not reaped, removed postmaster.pid");
			$self->{unreaped}++;
		}
		$node->start;
	}
	elsif ($kind eq 'restart_fast')
	{
		$node->restart;    # pg_ctl restart, mode fast
	}
	elsif ($kind eq 'restart_immediate')
	{
		my $t0 = time();
		$node->stop('immediate');
		push @{ $self->{crashes} },
		  { node => $self->{names}[$i], kind => $kind, from => $t0, to => time() };
		$node->start;
	}
	elsif ($kind eq 'partition')
	{
		isolate($c, $i);
		sleep($secs);    # the fault lasts that long
		rejoin($c, $i);
	}
	elsif ($kind eq 'pause')
	{
		my $pm = postmaster_pid($node) or die "no postmaster.pid for $name";
		# the postmaster first, so that it forks no new child meanwhile
		kill 'STOP', $pm;
		$paused{$pm} = 1;
		my @children = grep { /^\d+$/ } split /\s+/, `pgrep -P $pm`;
		kill 'STOP', @children if @children;
		$paused{$_} = 1 for @children;
		sleep($secs);    # the fault lasts that long
		kill 'CONT', @children if @children;
		kill 'CONT', $pm;
		delete @paused{ $pm, @children };
	}
	elsif ($kind eq 'failover')
	{
		$self->failover($i);
	}
	elsif ($kind eq 'lower_limits')
	{
		# every value the writers make is longer than 4 bytes: held back
		$node->append_conf('postgresql.conf', "mantis.max_value_size = 4\n");
		$node->restart;
		sleep($secs);    # the fault lasts that long
		$node->append_conf('postgresql.conf', "mantis.max_value_size = '1MB'\n");
		$node->restart;
	}
	elsif ($kind eq 'recreate_extension')
	{
		$node->safe_psql('postgres', 'DROP EXTENSION mantis');
		sleep($secs);    # writes fail meanwhile: the functions are gone
		$node->safe_psql('postgres', 'CREATE EXTENSION mantis');
		flushed($node);
	}
	elsif ($kind eq 'truncate_stores')
	{
		$node->safe_psql('postgres', 'TRUNCATE mantis_stores');
		flushed($node);
	}
	elsif ($kind eq 'fail_flush')
	{
		my $failures = $node->safe_psql('postgres', 'SELECT flush_failures FROM mantis_status');
		$node->safe_psql('postgres',
			'ALTER SYSTEM SET mantis.debug_fail_flush = on; SELECT pg_reload_conf()');
		$node->poll_query_until('postgres',
			"SELECT flush_failures::bigint > $failures FROM mantis_status")
		  or die "the flushes of $name did not fail";
		sleep($secs);    # the fault lasts that long
		$node->safe_psql('postgres',
			'ALTER SYSTEM RESET mantis.debug_fail_flush; SELECT pg_reload_conf()');
		flushed($node);
	}
	elsif ($kind eq 'clock_skew')
	{
		my $ms = $o{skew_ms} // 200;
		$self->set_skew($i, $ms);
		sleep($secs);    # the fault lasts that long
		$self->set_skew($i, 0);
	}
	else
	{
		die "unknown fault kind $kind";
	}
	$self->wait_healthy;
	$self->event("$kind $name healed");
	push @{ $self->{faults} },
	  { node => $self->{names}[$i], kind => $kind, from => $t_begin, to => time() };
	$self->{counts}{$kind}++;
	return;
}

# failover(node index) — a hot standby of the node takes its place: made by
# pg_basebackup and started, then the primary is killed (SIGKILL of the
# postmaster: a crash, whose last flush interval may be lost), and the
# standby takes the primary's port, so that clients and the writer
# reconnect to it, and is promoted.  It keeps the node's name and ZeroMQ
# endpoint (its configuration is the primary's), so the peers see the same
# node with a new incarnation.  The cluster's node is the standby from then
# on; needs servers made with init => { allows_streaming => 1 }.
sub failover
{
	my ($self, $i) = @_;
	my $c = $self->{c};
	my $node = $c->{nodes}[$i];
	my $name = $node->name;
	my $n = ++$self->{failovers};

	$node->backup("failover$n");
	my $standby = PostgreSQL::Test::Cluster->new("${name}_standby$n");
	$standby->init_from_backup($node, "failover$n", has_streaming => 1);
	$standby->start;
	$standby->poll_query_until('postgres', q{SELECT persistence = 'standby' FROM mantis_status})
	  or die "the standby of $name did not load mantis_stores";
	$node->wait_for_catchup($standby, 'replay', $node->lsn('insert'));

	my ($pm, @children) = server_pids($node);
	my $t0 = time();
	$node->kill9;
	$self->{killed}{$pm} = 1;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (grep { alive($_) } $pm, @children)
	{
		die "processes of the killed primary $name live on" if time() > $deadline;
		usleep(20_000);
	}
	push @{ $self->{crashes} },
	  { node => $self->{names}[$i], kind => 'failover', from => $t0, to => time() };
	# a zombie postmaster's socket lock would keep the port
	unlink($node->host . '/.s.PGSQL.' . $node->port . '.lock') if -e "/proc/$pm";

	$standby->stop('fast');
	$standby->append_conf('postgresql.conf', 'port = ' . $node->port . "\n");
	$standby->{_port} = $node->port;
	$standby->start;
	$standby->promote;
	push @{ $self->{retired} }, $node;
	$c->{nodes}[$i] = $standby;
	$self->event("$name: standby ${name}_standby$n promoted in its place");
}

# flushed(node) — wait until a mantis_flush() succeeds there: what was
# written before it, and whatever the fault took from mantis_stores, is
# persisted again.
sub flushed
{
	my ($node) = @_;
	$node->poll_query_until('postgres', 'SELECT mantis_flush() >= 0')
	  or die $node->name . ' does not flush';
}

# set_skew(node index, ms) — shift the wall clock mantis reads on that node.
sub set_skew
{
	my ($self, $i, $ms) = @_;
	my $node = $self->{c}{nodes}[$i];
	my $set = $ms ? "SET mantis.debug_clock_offset = $ms" : 'RESET mantis.debug_clock_offset';
	$node->safe_psql('postgres', "ALTER SYSTEM $set; SELECT pg_reload_conf()");
	if ($ms) { $self->{skewed}{$i} = $ms } else { delete $self->{skewed}{$i} }
	$self->event($node->name . " clock offset $ms ms");
}

# wait_healthy() — wait until every node runs both mantis workers with its
# registers loaded, is connected to all its peers, and replicates to them: a
# probe write on each node ("nemesis.probe.<node>") reaches every other one.
# (mantis_peers alone is not enough: a partition shorter than
# mantis.peer_timeout never shows, and ZeroMQ reconnects with a backoff.)
sub wait_healthy
{
	my ($self) = @_;
	my $c = $self->{c};
	my @nodes = @{ $c->{nodes} }[ 1 .. $#{ $c->{nodes} } ];
	my $peers = $#nodes;
	for my $node (@nodes)
	{
		$node->poll_query_until('postgres', qq{
SELECT (SELECT persistence = 'ready' FROM mantis_status)
   AND (SELECT count(*) = 2 FROM pg_stat_activity
         WHERE backend_type IN ('mantis worker', 'mantis replication'))
   AND (SELECT count(*) = $peers FROM mantis_peers
         WHERE state = 'connected' AND direction = 'outbound')})
		  or die $node->name . ' did not recover: mantis not ready or peers not connected';
	}
	my $seq = ++$self->{probe_seq};
	for my $i (1 .. $#{ $c->{nodes} })
	{
		my $node = $c->{nodes}[$i];
		my $name = $self->{names}[$i];    # a promoted standby writes as the node
		my ($key, $value) = ("nemesis.probe.$name", "$name.probe$seq");
		$self->{probes}{$key}{$value} = $name;
		$node->safe_psql('postgres', "SELECT mantis_set('$key', '$value')");
		for my $other (grep { $_ != $node } @nodes)
		{
			$other->poll_query_until('postgres',
				"SELECT mantis_get('$key') IS NOT DISTINCT FROM '$value'")
			  or die $node->name . ' does not replicate to ' . $other->name;
		}
	}
}

# heal_all() — undo whatever may be left: links, pauses, clock offsets.
sub heal_all
{
	my ($self) = @_;
	my $c = $self->{c};
	if (%paused)
	{
		kill 'CONT', keys %paused;
		%paused = ();
	}
	rejoin($c, $_) for 1 .. $#{ $c->{nodes} };
	$self->set_skew($_, 0) for keys %{ $self->{skewed} };
	$self->wait_healthy;
}

# ---------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------

# hlc_node(hlc) — the node id part of an HLC's text form
sub hlc_node { my ($h) = @_; return lc((split /-/, $h)[-1]) }

# is_deletion(op) — a write that leaves a deletion marker
sub is_deletion { my ($op) = @_; return $op->{op} eq 'del' || $op->{op} eq 'null' }

my $NEVER = 9**9**9;    # +inf

# check_history(%a) — check the writers' histories against the final
# registers, and what the writers read against what they wrote.  Arguments:
#   finals     => dump text of the converged registers (registers_dump_expiry:
#                 "key|value|hlc|node|expiry"; or without the expiry)
#   final_time => when they were dumped (Unix seconds)
#   node_ids   => { node name => node id in hex }
#   logs       => { node name => ops from read_writer_log }
#   probes     => { key => { value => node name } }: other writes made (the
#                 nemesis's probes), accepted as the origin of a register
#   crashes    => the nemesis's crashes (each gets lost => the number of
#                 losses it excused, oldest => the age in seconds of the
#                 oldest of them at the crash; negative: acknowledged after)
#   window     => seconds before a crash in which an acknowledged write of the
#                 crashed node may be lost (flush interval + margin)
#   faults     => the nemesis's faults ({ node, kind, from, to })
#   offset     => mantis.max_clock_offset, in seconds
#   replication => seconds within which a write acknowledged by one node
#                 is on every other one when no fault touches either (the
#                 allowance of the read check across nodes, see below)
# Returns a hash of counts, and of lists of problems (at most 20 each).
#
# An acknowledged write is final when the final register has its HLC (and
# its value and node), beaten when the final register has a greater HLC;
# an acknowledged ttl write is also final when the final register is its
# register, expired (same HLC, node and expiry); an acknowledged deletion,
# and an acknowledged ttl write whose expiry (+ offset) is before
# final_time, also when the key has no register at all (its marker, or its
# expired register, was collected), and any write is beaten when the key has no
# register and a deletion or a ttl write of the key that may have left
# nothing behind (acknowledged with a greater HLC, or of unknown outcome)
# exists.  Anything else (a smaller HLC, or no register for no reason) is
# lost, unless excused by a crash of its node.  A final register holding a
# value written with a ttl whose expiry passed is "expired".
#
# The reads: a read of key k on node M, sent at time t, that returned value
# v, written by an acknowledged write W (HLC h), is wrong when
#   - W had a ttl and its acknowledged expiry + offset < t (read_expired), or
#   - an acknowledged write X of k with an HLC > h happened before the read,
#     and X is a deletion (read_deleted) or a ttl write whose expiry + offset
#     < t (read_expired): LWW then hides v on M for good.
# X happened before the read when it was acknowledged by M itself before t
# (the same writer, before it sent the read), or, from another node A, when
# t > the replication deadline of X: its acknowledgement + the replication
# allowance, extended, while a fault of A or M (partition, pause, crash,
# restart...; from its injection until healed) overlaps the interval, to that
# fault's healing + the allowance.  X possibly lost by a crash (acknowledged
# by its node in the window before one) is no evidence.  Reads of v after a
# later plain write X happened before them are counted as stale (a note,
# not a check).  A read value nobody wrote is a phantom.  Reads on a node
# while it runs with limits lowered (a lower_limits fault of that node, from
# its injection until healed) are not checked: that start holds back every
# register larger than the limit, and serves, for a key, the newest one it
# could load - an older, short value - by design (README, Persistence).
sub check_history
{
	my %a = @_;
	my %r = (ok => 0, fail => 0, unknown => 0, attempt => 0, registers => 0,
		survived => 0, beaten => 0, excused => 0, excused_by => {},
		vanished => 0, beaten_gone => 0, no_hlc => 0,
		read => 0, 'read-fail' => 0, 'read-unknown' => 0, reads_checked => 0,
		reads_null => 0, reads_limited => 0, stale => 0, stale_examples => [],
		ttl_acked => 0, del_acked => 0);
	my @problems = qw(lost mismatch phantom hlc_order expired read_deleted read_expired);
	$r{$_} = [] for @problems;
	my $note = sub {
		my ($what, $text) = @_;
		$r{"n_$what"}++;
		push @{ $r{$what} }, $text if @{ $r{$what} } < 20;
	};
	$r{"n_$_"} = 0 for @problems;
	my $offset = $a{offset} // 0.5;
	my $final_time = $a{final_time} // time();
	my $allow = $a{replication} // 4;

	my %final;
	for my $l (split /\n/, $a{finals} // '')
	{
		my ($k, $v, $h, $n, $e) = split /\|/, $l, -1;
		$final{$k} = {
			value => $v =~ /^<(deleted|expired)>$/ ? undef : $v,
			expired => $v eq '<expired>',
			expires => defined $e && $e ne '-' ? $e / 1000 : undef,
			hlc => $h,
			node => $n };
		$r{registers}++;
		$r{final_dead}++ unless defined $final{$k}{value};
	}

	# the ttl write's expiry passed at the final dump; without an expiry read
	# back, from the ttl asked and a second of slack
	my $expired_at_end = sub {
		my ($w) = @_;
		return defined $w->{expires}
		  ? $w->{expires} + $offset < $final_time
		  : $w->{t} + $w->{ttl} / 1000 + $offset + 1 < $final_time;
	};
	my %crashes_of;    # node => its crashes
	push @{ $crashes_of{ $_->{node} } }, $_ for @{ $a{crashes} };
	my $possibly_lost = sub {    # the first crash that may have lost it
		my ($w) = @_;
		for (@{ $crashes_of{ $w->{node} } // [] })
		{
			return $_ if $w->{t} >= $_->{from} - $a{window} && $w->{t} <= $_->{to};
		}
		return undef;
	};

	# what every writer attempted, acknowledged, and saw fail
	my (%attempted, %ttl_attempt, %ttl_by, %deleted_by, %acked, %failed_loading,
		%writes, %maybe_gone, @reads);
	for my $name (sort keys %{ $a{logs} })
	{
		my $prev;    # this writer's previous acknowledged HLC
		my $pending;    # the attempt whose outcome comes next
		for my $op (@{ $a{logs}{$name} })
		{
			$r{ $op->{kind} }++;
			my $k = $op->{key};
			if ($op->{kind} eq 'attempt')
			{
				if (defined $op->{value}) { $attempted{$k}{ $op->{value} } = $name }
				else { $deleted_by{$k}{$name} = 1 }
				if ($op->{op} eq 'ttl')
				{
					$ttl_attempt{$k}{ $op->{value} } = $op;
					$ttl_by{$k}{$name} = 1;
				}
				$pending = $op;
				next;
			}
			if ($op->{kind} eq 'read')
			{
				push @reads, $op;
				next;
			}
			next if $op->{kind} =~ /^read/;
			my $ttl = $pending && $pending->{key} eq $k ? $pending->{ttl} : undef;
			undef $pending;
			my $gone_kind = is_deletion($op) || $op->{op} eq 'ttl';
			if ($op->{kind} eq 'ok')
			{
				$r{ttl_acked}++ if $op->{op} eq 'ttl';
				$r{del_acked}++ if is_deletion($op);
				if (!defined $op->{hlc})
				{
					# a deletion whose marker a peer's write replaced before
					# the writer read it back: nothing to check it against
					$r{no_hlc}++;
					$maybe_gone{$k}++ if $gone_kind;
					next;
				}
				$acked{$k}{ $op->{value} } = $op->{hlc} if defined $op->{value};
				push @{ $writes{$k} }, { %$op, ttl => $ttl // 0 };
				if (defined $prev && $op->{hlc} le $prev)
				{
					$note->('hlc_order', sprintf(
						'%s line %d at %.3f: ok HLC %s after %s',
						$name, $op->{line}, $op->{t}, $op->{hlc}, $prev));
				}
				$prev = $op->{hlc};
			}
			elsif ($op->{kind} eq 'fail' && $op->{sqlstate} eq '55000')
			{
				# "mantis is loading": refused before any change
				$failed_loading{$k}{ $op->{value} } = 1 if defined $op->{value};
			}
			else
			{
				# failed (perhaps after the write, in its read-back) or unknown
				$maybe_gone{$k}++ if $gone_kind;
			}
		}
	}

	for my $k (keys %{ $a{probes} // {} })
	{
		$attempted{$k}{$_} = $a{probes}{$k}{$_} for keys %{ $a{probes}{$k} };
	}

	# (2) every acknowledged write survives or is beaten by a greater HLC
	for my $k (sort keys %writes)
	{
		my $f = $final{$k};
		# the greatest HLC of an acknowledged write of k that leaves nothing
		my $gone_hlc = '';
		for (@{ $writes{$k} })
		{
			$gone_hlc = $_->{hlc}
			  if $_->{hlc} gt $gone_hlc
			  && (is_deletion($_) || ($_->{op} eq 'ttl' && $expired_at_end->($_)));
		}
		for my $op (@{ $writes{$k} })
		{
			my $name = $op->{node};
			my $v = $op->{value} // '<deleted>';
			my $gone = is_deletion($op) || ($op->{op} eq 'ttl' && $expired_at_end->($op));
			if ($f && $f->{hlc} eq $op->{hlc} && $f->{expired})
			{
				# the register expired, not yet collected: that of this
				# write if it had a ttl, from this node, with this expiry
				if ($op->{op} ne 'ttl' || $f->{node} ne $name
					|| (defined $op->{expires} && defined $f->{expires}
						&& abs($op->{expires} - $f->{expires}) > 0.0015))
				{
					$note->('mismatch', sprintf(
						'%s %s %s=%s at %s%s, but the register with that HLC is one from %s that expired%s',
						$name, $op->{op}, $k, $v, $op->{hlc},
						defined $op->{expires} ? sprintf(' expiring at %.3f', $op->{expires}) : '',
						$f->{node}, defined $f->{expires} ? sprintf(' at %.3f', $f->{expires}) : ''));
				}
				else { $r{survived}++ }
			}
			elsif ($f && $f->{hlc} eq $op->{hlc})
			{
				if (($f->{value} // '<deleted>') ne $v || $f->{node} ne $name)
				{
					$note->('mismatch', sprintf(
						'%s %s=%s at %s, but the register with that HLC holds %s from %s',
						$name, $k, $v, $op->{hlc},
						$f->{value} // '<deleted>', $f->{node}));
				}
				elsif ($op->{op} eq 'ttl' && $gone) { }    # "expired" below
				else { $r{survived}++ }
			}
			elsif ($f && $f->{hlc} gt $op->{hlc})
			{
				$r{beaten}++;
			}
			elsif (!$f && $gone)
			{
				$r{survived}++;
				$r{vanished}++;
			}
			elsif (!$f && ($maybe_gone{$k} || $gone_hlc gt $op->{hlc}))
			{
				$r{beaten}++;
				$r{beaten_gone}++;
			}
			else
			{
				my $crash = $possibly_lost->($op);
				if ($crash)
				{
					my $age = $crash->{from} - $op->{t};
					$r{excused}++;
					$r{excused_by}{ $crash->{kind} }++;
					$crash->{lost}++;
					$crash->{oldest} = $age
					  if !defined $crash->{oldest} || $age > $crash->{oldest};
				}
				else
				{
					$note->('lost', sprintf(
						'%s line %d, %s acked at %.3f: %s=%s %s%s; final: %s',
						$name, $op->{line}, $op->{op}, $op->{t}, $k, $v, $op->{hlc},
						defined $op->{expires} ? sprintf(' expiring %.3f', $op->{expires}) : '',
						$f ? "$f->{hlc} " . ($f->{value} // '<deleted>') : 'none'));
				}
			}
		}
	}

	# (3) every final register was written by a writer, with its node's HLC;
	# none holds a value whose ttl ran out
	for my $k (sort keys %final)
	{
		my $f = $final{$k};
		my $id = $a{node_ids}{ $f->{node} } // '?';
		my $writer;
		if (defined $f->{value})
		{
			$writer = $attempted{$k}{ $f->{value} };
			if (!defined $writer)
			{
				$note->('phantom', "$k=$f->{value} $f->{hlc}: no writer attempted it");
				next;
			}
			my $acked_hlc = $acked{$k}{ $f->{value} };
			$note->('phantom', "$k=$f->{value}: acknowledged with $acked_hlc, held with $f->{hlc}")
			  if defined $acked_hlc && $acked_hlc ne $f->{hlc};
			$note->('phantom', "$k=$f->{value} $f->{hlc}: its write failed with 55000 (mantis is loading)")
			  if $failed_loading{$k}{ $f->{value} };
			if (my $at = $ttl_attempt{$k}{ $f->{value} })
			{
				my ($w) = grep { ($_->{value} // '') eq $f->{value} } @{ $writes{$k} // [] };
				my $past = $w ? $expired_at_end->($w)
				  : $at->{t} + $at->{ttl} / 1000 + $offset + 10 < $final_time;
				$note->('expired', sprintf('%s=%s %s: written with a ttl of %d ms%s, still held %.3f s after',
					$k, $f->{value}, $f->{hlc}, $at->{ttl},
					$w && defined $w->{expires} ? sprintf(', expiring at %.3f', $w->{expires}) : '',
					$final_time - ($w && defined $w->{expires} ? $w->{expires} : $at->{t})))
				  if $past;
			}
		}
		elsif ($f->{expired})
		{
			$writer = $f->{node};
			$note->('phantom', "$k expired $f->{hlc} from $f->{node}: that writer never wrote it with a ttl")
			  unless $ttl_by{$k}{$writer};
		}
		else
		{
			$writer = $f->{node};
			$note->('phantom', "$k deleted $f->{hlc} by $f->{node}: that writer never deleted it")
			  unless $deleted_by{$k}{$writer};
		}
		$note->('phantom', "$k=" . ($f->{value} // '<deleted>')
			  . " written through $writer, held as from $f->{node} with HLC $f->{hlc} (node $id)")
		  if $f->{node} ne $writer || hlc_node($f->{hlc}) ne lc($a{node_ids}{$writer} // '');
	}

	# (6) no read returns a value after a deletion or expiry that happened
	# before it (see above).  For every node, each key's acknowledged writes
	# in HLC order, and from the end the earliest time after which a later
	# write hides a value on that node for good (a deletion seen, a ttl
	# write seen and expired), and after which any later write is seen.
	my %faults_of;    # "A M" => faults of node A or M, by injection
	my @names = sort keys %{ $a{logs} };
	for my $A (@names)
	{
		for my $M (@names)
		{
			$faults_of{"$A $M"} = [ sort { $a->{from} <=> $b->{from} }
				  grep { $_->{node} eq $A || $_->{node} eq $M } @{ $a{faults} // [] } ];
		}
	}
	my $seen_by = sub {    # when write X is on node M for sure
		my ($x, $M) = @_;
		return $x->{t} if $x->{node} eq $M;
		my $d = $x->{t} + $allow;
		for my $f (@{ $faults_of{"$x->{node} $M"} })
		{
			next if $f->{to} < $x->{t};
			last if $f->{from} > $d;
			$d = $f->{to} + $allow if $f->{to} + $allow > $d;
		}
		return $d;
	};
	my (%index, %hide, %later);    # key => value => position; key => M => [[time, X]]
	for my $k (keys %writes)
	{
		my @w = sort { $a->{hlc} cmp $b->{hlc} } @{ $writes{$k} };
		$writes{$k} = \@w;
		for my $i (0 .. $#w)
		{
			$index{$k}{ $w[$i]{value} } = $i if defined $w[$i]{value};
		}
		for my $M (@names)
		{
			my (@h, @l);
			my ($hmin, $lmin) = ([ $NEVER, undef ], [ $NEVER, undef ]);
			for (my $i = $#w; $i >= 0; $i--)
			{
				$h[$i] = $hmin;
				$l[$i] = $lmin;    # the minima over the writes after i
				my $x = $w[$i];
				next if $possibly_lost->($x);
				my $seen = $seen_by->($x, $M);
				my $hides = is_deletion($x) ? $seen
				  : $x->{op} eq 'ttl' && defined $x->{expires}
				  ? ($seen > $x->{expires} + $offset ? $seen : $x->{expires} + $offset)
				  : $NEVER;
				$hmin = [ $hides, $x ] if $hides < $hmin->[0];
				$lmin = [ $seen, $x ] if $seen < $lmin->[0];
			}
			$hide{$k}{$M} = \@h;
			$later{$k}{$M} = \@l;
		}
	}
	my %limited;    # node => [from, to] of its lower_limits faults
	push @{ $limited{ $_->{node} } }, [ $_->{from}, $_->{to} ]
	  for grep { $_->{kind} eq 'lower_limits' } @{ $a{faults} // [] };
	for my $rd (@reads)
	{
		my ($k, $v, $M, $t) = ($rd->{key}, $rd->{value}, $rd->{node}, $rd->{start});
		if (grep { $t >= $_->[0] && $t <= $_->[1] } @{ $limited{$M} // [] })
		{
			$r{reads_limited}++;
			next;
		}
		if (!defined $v)
		{
			$r{reads_null}++;
			next;
		}
		if (!defined $attempted{$k}{$v})
		{
			$note->('phantom', sprintf('%s line %d: read %s=%s at %.3f: no writer attempted it',
				$M, $rd->{line}, $k, $v, $t));
			next;
		}
		my $i = $index{$k}{$v};
		next unless defined $i;    # not acknowledged: its HLC is not known
		$r{reads_checked}++;
		my $w = $writes{$k}[$i];
		my $what = sprintf('%s line %d: read %s=%s sent at %.3f, written by %s %s at %.3f (%s)',
			$M, $rd->{line}, $k, $v, $t, $w->{node}, $w->{op}, $w->{t}, $w->{hlc});
		if ($w->{op} eq 'ttl' && defined $w->{expires} && $t > $w->{expires} + $offset)
		{
			$note->('read_expired', sprintf('%s, expired at %.3f', $what, $w->{expires}));
			next;
		}
		my ($when, $x) = @{ $hide{$k}{$M}[$i] };
		if ($t > $when)
		{
			$note->(is_deletion($x) ? 'read_deleted' : 'read_expired', sprintf(
				'%s, after %s %s by %s acked at %.3f (%s)%s, on %s for sure from %.3f',
				$what, $x->{op}, is_deletion($x) ? 'deleted' : 'written', $x->{node}, $x->{t},
				$x->{hlc}, defined $x->{expires} ? sprintf(' expiring at %.3f', $x->{expires}) : '',
				$M, $seen_by->($x, $M)));
			next;
		}
		($when, $x) = @{ $later{$k}{$M}[$i] };
		if ($t > $when)
		{
			$r{stale}++;
			push @{ $r{stale_examples} }, sprintf('%s, after %s %s by %s acked at %.3f (%s)',
				$what, $x->{op}, $x->{value} // '<deleted>', $x->{node}, $x->{t}, $x->{hlc})
			  if @{ $r{stale_examples} } < 5;
		}
	}
	return \%r;
}

# registers_dump_expiry(node) — every register a node holds, dead ones too,
# as sorted "key|value|hlc|node|expiry" lines: value "<deleted>" for a
# deletion marker, "<expired>" for a register whose expiry passed (both
# listed with a NULL value by mantis_registers(true)), expiry in Unix ms or
# "-" for none.
sub registers_dump_expiry
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
SELECT string_agg(key || '|'
                  || coalesce(value, CASE WHEN expires_at IS NULL THEN '<deleted>' ELSE '<expired>' END)
                  || '|' || hlc || '|' || node || '|'
                  || coalesce(floor(extract(epoch FROM expires_at) * 1000)::int8::text, '-'),
                  E'\n' ORDER BY key)
  FROM mantis_registers(true)});
}

# converged_dumps(nodes...) — wait until every node holds the same registers
# (registers_dump_expiry: HLCs, expiries, deletion markers and expired
# registers included) in one round of dumps, and return the time that round
# began and its dumps; () if they did not within the default timeout.
# (Markers collected between two dumps of wait_converged would make a later
# round differ.)
sub converged_dumps
{
	my @nodes = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (time() < $deadline)
	{
		my $t = time();
		my @dumps = map { registers_dump_expiry($_) } @nodes;
		return ($t, @dumps) unless grep { $_ ne $dumps[0] } @dumps;
		usleep(200_000);
	}
	return ();
}

# server_log_problems(node, killed) — lines of a server log showing a crash
# the nemesis did not cause: any PANIC or failed assertion, and any
# "terminated by signal" but signal 9 of a pid in %$killed.
sub server_log_problems
{
	my ($node, $killed) = @_;
	my @bad;
	for my $l (split /\n/, slurp_file($node->logfile))
	{
		if ($l =~ /PANIC|TRAP:/) { push @bad, $l }
		elsif ($l =~ /\(PID (\d+)\) was terminated by signal (\d+)/)
		{
			push @bad, $l unless $2 == 9 && $killed->{$1};
		}
		elsif ($l =~ /terminated by signal/) { push @bad, $l }
	}
	return @bad;
}

1;
