# MantisFault.pm — fault injection for the Jepsen-style test
# (test/t/005_faults.pl): the writer client (test/fault/writer.c), a nemesis
# that injects one fault at a time into a mantis_cluster and heals it, and
# the dumps of the registers the cluster ends with.  The checker of the
# writers' histories is MantisHistory.pm.
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
our @EXPORT = qw(build_writer build_follower start_writers start_followers stop_writers
  follower_missing
  registers_dump_expiry converged_dumps server_log_problems
  postmaster_pid server_pids);

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
	return build_tool($dir, 'writer');
}

# build_follower(dir) — compile test/fault/follower.c, a reader of the change
# feed; returns the path of the binary.
sub build_follower
{
	my ($dir) = @_;
	return build_tool($dir, 'follower');
}

sub build_tool
{
	my ($dir, $name) = @_;
	my $src = dirname(__FILE__) . "/../fault/$name.c";
	my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
	my ($inc, $lib) = map {
		my $v = `$pg_config --$_`;
		chomp $v;
		$v
	} qw(includedir libdir);
	my $bin = "$dir/$name";
	my @cmd = ('gcc', '-O2', '-Wall', '-o', $bin, $src, "-I$inc",
		"-L$lib", '-lpq');
	system(@cmd) == 0 or die "cannot build the $name: @cmd";
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

# start_followers(bin, cluster, logdir) — a follower of the change feed on
# every node (test/fault/follower.c), until stop_writers ends it; returns
# { node index => [pid, logfile] }, as start_writers does.
sub start_followers
{
	my ($bin, $c, $logdir) = @_;
	my %f;
	for my $i (1 .. $#{ $c->{nodes} })
	{
		my $node = $c->{nodes}[$i];
		my $log = "$logdir/follower_" . $node->name . '.log';
		unlink $log;
		my $pid = fork();
		die "fork: $!" unless defined $pid;
		if ($pid == 0)
		{
			exec($bin, $node->connstr('postgres'), $log) or POSIX::_exit(127);
		}
		$writer_pids{$pid} = 1;
		$f{$i} = [ $pid, $log ];
	}
	return \%f;
}

# follower_missing(node, log) — the live registers the node holds, "key hlc",
# that its follower's log has no row of; waits for them (the follower is
# behind by a wait or two) until the timeout, and returns those still
# missing then.
sub follower_missing
{
	my ($node, $log) = @_;
	my %want = map { $_ => 1 } split /\n/,
	  $node->safe_psql('postgres', q{SELECT key || ' ' || hlc FROM mantis_registers()});
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (1)
	{
		open(my $fh, '<', $log) or die "$log: $!";
		while (my $l = <$fh>)
		{
			delete $want{"$1 $2"} if $l =~ /^row (\S+) (\S+) [tf]$/;
		}
		close $fh;
		return () if !%want;
		return sort keys %want if time() > $deadline;
		usleep(100_000);
	}
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
		# the nodes' first mantis node names, which name their writers (a
		# promoted standby, a renamed server, writes for the same writer)
		names => [ undef, map { $_->name } @{ $c->{nodes} }[ 1 .. $#{ $c->{nodes} } ] ],
		# their mantis node names now (a rename changes one)
		mantis_names => [ undef, map { $_->name } @{ $c->{nodes} }[ 1 .. $#{ $c->{nodes} } ] ],
		renames => [],    # { node, name, id, from, to }: every rename (MantisHistory.pm)
		rename_checks => 0,    # renames whose deletion stayed deleted across a restart
		crashes => [],    # { node, kind, from, to[, dead] }: when acked writes may be lost
		                  # (dead: when a killed postmaster was seen dead)
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

# The kinds of fault, in the order 005 draws them from (a seed replays the
# same sequence): kind => { inject, lasts, heal }.  inject(nemesis, node
# index, %o) makes the fault and returns what heal needs; when lasts, the
# fault then lasts o{seconds}; heal(nemesis, node index, what inject
# returned) undoes it (none: the server recovers by itself).  The crash
# kinds lose, by design, the writes acknowledged by the crashed node in its
# last flush interval that no peer had yet (README, "What each way of
# stopping can lose").
my @FAULTS = (
	kill_worker => { inject => sub { $_[0]->kill_backend($_[1], 'kill_worker', 'mantis worker') } },
	kill_replication =>
	  { inject => sub { $_[0]->kill_backend($_[1], 'kill_replication', 'mantis replication') } },
	kill_postmaster => { inject => \&kill_postmaster, heal => \&start_node },
	restart_fast => { inject => sub { $_[0]->node($_[1])->restart } },    # pg_ctl restart, mode fast
	restart_immediate => { inject => \&stop_immediate, heal => \&start_node },
	partition => { inject => \&cut_off, lasts => 1, heal => \&reconnect },
	pause => { inject => \&pause_server, lasts => 1, heal => \&continue_server },
	clock_skew => { inject => \&skew_clock, lasts => 1, heal => \&unskew_clock },
	lower_limits => { inject => \&lower_limits, lasts => 1, heal => \&restore_limits },
	recreate_extension => { inject => \&drop_extension, lasts => 1, heal => \&create_extension },
	truncate_stores => { inject => \&truncate_stores, heal => \&node_flushed },
	fail_flush => { inject => \&fail_flushes, lasts => 1, heal => \&restore_flushes },
	failover => { inject => sub { $_[0]->failover($_[1]) } },
	# membership (issue 18): a server stopped, taken out of its peers'
	# mantis.peers and put back; its standby, cut off from its WAL so that it
	# misses flushes, promoted in its place; the others listing only it (a hub)
	remove_peer => { inject => \&remove_peer, lasts => 1, heal => \&readd_peer },
	failover_lagging => { inject => sub { $_[0]->failover($_[1], lagging => 1) } },
	hub => { inject => \&make_hub, lasts => 1, heal => \&end_hub },
	# a server renamed (a new mantis.node_name, restarted): a deletion it
	# makes under its new name, of a key it wrote under its former one,
	# collected and compacted away, stays deleted across its next restart
	rename => { inject => \&rename_node, heal => \&check_renamed },
);
my %FAULT = @FAULTS;
# Every kind of fault the nemesis knows.
our @FAULT_KINDS = @FAULTS[ grep { $_ % 2 == 0 } 0 .. $#FAULTS ];

# inject(kind, node index, %o) — inject a fault of that kind on that node and
# heal it; o{seconds} is how long a partition, pause, skew, lowered limits,
# dropped extension or failing flushes last (whole seconds), o{skew_ms} the
# clock offset of a skew.
sub inject
{
	my ($self, $kind, $i, %o) = @_;
	my $fault = $FAULT{$kind} or die "unknown fault kind $kind";
	my $name = $self->node($i)->name;

	my $t_begin = time();
	$self->event("$kind $name begins");
	my $held = $fault->{inject}->($self, $i, %o);
	sleep($o{seconds} // 1) if $fault->{lasts};    # the fault lasts that long
	$fault->{heal}->($self, $i, $held) if $fault->{heal};
	$self->wait_healthy;
	$self->event("$kind $name healed");
	push @{ $self->{faults} },
	  { node => $self->{names}[$i], kind => $kind, from => $t_begin, to => time() };
	$self->{counts}{$kind}++;
	return;
}

# node(node index) — the cluster's node there now (a failover replaces it)
sub node
{
	my ($self, $i) = @_;
	return $self->{c}{nodes}[$i];
}

# crashed(node index, kind, t0) — note a crash of the node from t0 until
# now: the acknowledged writes it may have lost.
sub crashed
{
	my ($self, $i, $kind, $t0, %more) = @_;
	push @{ $self->{crashes} },
	  { node => $self->{names}[$i], kind => $kind, from => $t0, to => time(), %more };
}

# seen_dead(pid) — wait until the killed postmaster pid is a zombie or gone,
# polling every 0.2 ms; returns when it was seen so.  The kernel makes it a
# zombie only after it has closed the postmaster's end of the pipe its
# children watch and sent them the death signal (PR_SET_PDEATHSIG): from
# then on every PostmasterIsAlive() of a child says no, and no backend
# acknowledges a mantis write (MantisHistory.pm, check_acked_after_death).
sub seen_dead
{
	my ($pid) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	usleep(200) while alive($pid) && time() < $deadline;
	die "the killed postmaster $pid lives on" if alive($pid);
	return time();
}

# kill_backend(node index, kind, backend type) — SIGKILL of that mantis
# process, and wait for the crash restart it causes: every process of the
# server ends, shared memory is reinitialized, a new incarnation starts.
sub kill_backend
{
	my ($self, $i, $kind, $type) = @_;
	my $node = $self->node($i);
	my $name = $node->name;
	my $pid = backend_pid($node, $type);
	die "no $type on $name" unless $pid =~ /^\d+$/;
	my $re = qr/all server processes terminated; reinitializing/;
	my $before = log_count($node, $re);
	my $t0 = time();
	kill 'KILL', $pid;
	$self->{killed}{$pid} = 1;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	usleep(20_000) while log_count($node, $re) <= $before && time() < $deadline;
	die "$name did not reinitialize after SIGKILL of its $type"
	  if log_count($node, $re) <= $before;
	$self->crashed($i, $kind, $t0);
}

# kill_postmaster(node index) — SIGKILL of the postmaster, and wait until
# its orphaned children noticed and exited (the new postmaster could not
# start while they hold the shared memory).
sub kill_postmaster
{
	my ($self, $i) = @_;
	my $node = $self->node($i);
	my $name = $node->name;
	my ($pm, @children) = server_pids($node);
	my $t0 = time();
	$node->kill9;
	$self->{killed}{$pm} = 1;
	my $t_dead = seen_dead($pm);
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (grep { alive($_) } @children)
	{
		die "children of the killed postmaster of $name still run: "
		  . join(' ', grep { alive($_) } @children)
		  if time() > $deadline;
		usleep(20_000);
	}
	$self->crashed($i, 'kill_postmaster', $t0, dead => $t_dead);
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
}

# stop_immediate(node index) — an immediate stop: a crash
sub stop_immediate
{
	my ($self, $i) = @_;
	my $t0 = time();
	$self->node($i)->stop('immediate');
	$self->crashed($i, 'restart_immediate', $t0);
}

# start_node(node index) — start the stopped server again
sub start_node
{
	my ($self, $i) = @_;
	$self->node($i)->start;
}

# peers_without(node index j, node index i) — node j's mantis.peers without i
sub peers_without
{
	my ($self, $j, $i) = @_;
	my $c = $self->{c};
	return join(',', map { "tcp://127.0.0.1:$c->{proxy}{\"$j>$_\"}[0]" }
		  grep { $_ != $j && $_ != $i } 1 .. $#{ $c->{nodes} });
}

# set_peers(node index, peers or undef) — ALTER SYSTEM mantis.peers and
# reload; undef goes back to the list of postgresql.conf
sub set_peers
{
	my ($self, $j, $peers) = @_;
	my $set = defined $peers ? "SET mantis.peers = '$peers'" : 'RESET mantis.peers';
	$self->node($j)->safe_psql('postgres', "ALTER SYSTEM $set; SELECT pg_reload_conf()");
}

# remove_peer(node index) — stop the server, then take it out of the
# mantis.peers of the others, which then count each other alone and may
# collect by acknowledgement without it; readd_peer(node index) — put it
# back in their lists, and start it with what it missed meanwhile
sub remove_peer
{
	my ($self, $i) = @_;
	my $name = $self->{mantis_names}[$i];
	$self->node($i)->stop('fast');
	for my $j (grep { $_ != $i } 1 .. $#{ $self->{c}{nodes} })
	{
		$self->set_peers($j, $self->peers_without($j, $i));
		$self->node($j)->poll_query_until('postgres',
			qq{SELECT count(*) = 0 FROM mantis_peers WHERE node_name = '$name'})
		  or die $self->node($j)->name . " still counts $name";
	}
}

sub readd_peer
{
	my ($self, $i) = @_;
	$self->set_peers($_, undef) for grep { $_ != $i } 1 .. $#{ $self->{c}{nodes} };
	$self->node($i)->start;
}

# rename_node(node index) — a rename: the server writes a key under its
# name and flushes it (a row under that name), then restarts (fast: nothing
# lost) under a new mantis.node_name, "<first name>-r<n>", and must have
# loaded that key.  Returns the key.  check_renamed(node index, key) — the
# renamed server, healthy with its peers, deletes the key under its new
# name; once every server has collected the marker and a compaction of the
# renamed server (mantis.compact_rows = 1 meanwhile) has written a snapshot
# without it, the server restarts again: the key's value must not be back,
# and no row under a former name left in mantis_stores (issue 18, a node
# renamed; 014_rename.pl is the same without peers).  Either dies, with
# what it found, when not.
sub rename_node
{
	my ($self, $i) = @_;
	my $node = $self->node($i);
	my $writer = $self->{names}[$i];
	my $n = ++$self->{renamed}{$i};
	my ($old, $new) = ($self->{mantis_names}[$i], "$writer-r$n");
	my ($key, $value) = ("nemesis.rename.$writer.$n", "$writer.rename$n");
	$self->{probes}{$key}{$value} = $writer;
	$node->safe_psql('postgres', "SELECT mantis_set('$key', '$value')");
	flushed($node);
	my $t0 = time();
	$node->append_conf('postgresql.conf', "mantis.node_name = '$new'\n");
	$node->restart;
	$node->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
	  or die "$new (was $old) did not load mantis_stores";
	my ($name, $id) = split /\|/,
	  $node->safe_psql('postgres', 'SELECT node_name, node_id FROM mantis_status');
	die "$old restarted as $name, not $new" unless $name eq $new;
	die "$new lost $key, written and flushed as $old"
	  unless $node->safe_psql('postgres', "SELECT mantis_get('$key')") eq $value;
	push @{ $self->{renames} }, { node => $writer, name => $new, id => $id, from => $t0, to => time() };
	$self->{mantis_names}[$i] = $new;
	$self->event("$old renamed $new (node id $id)");
	return $key;
}

sub check_renamed
{
	my ($self, $i, $key) = @_;
	my $node = $self->node($i);
	my $name = $self->{mantis_names}[$i];
	my @nodes = @{ $self->{c}{nodes} }[ 1 .. $#{ $self->{c}{nodes} } ];
	$self->wait_healthy;
	$node->safe_psql('postgres', "SELECT mantis_delete('$key')");
	for my $other (@nodes)
	{
		$other->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM mantis_registers(true) WHERE key = '$key'")
		  or die $other->name . " did not collect the deletion of $key by $name";
	}
	$self->event("$name: its deletion of $key collected everywhere");
	# the marker was flushed before it was collected: once no row of this
	# name holds the key, a compaction has written a snapshot without it
	$node->safe_psql('postgres',
		'ALTER SYSTEM SET mantis.compact_rows = 1; SELECT pg_reload_conf()');
	$node->poll_query_until('postgres', qq{
SELECT mantis_flush() >= 0
   AND NOT EXISTS (SELECT FROM mantis_stores s, mantis_decode(s.registers) d
                    WHERE s.node = '$name' AND d.key = '$key')})
	  or die "no compaction of $name left $key out";
	$node->safe_psql('postgres', 'ALTER SYSTEM RESET mantis.compact_rows; SELECT pg_reload_conf()');
	$self->event("$name: compacted");
	$node->restart;
	$node->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
	  or die "$name did not load mantis_stores";
	# (a peer may still send the marker back before its own sweep: only a
	# value is wrong)
	my $back = $node->safe_psql('postgres',
		"SELECT string_agg(value || ' ' || hlc || ' ' || node, ', ') FROM mantis_registers(true) WHERE key = '$key' AND value IS NOT NULL");
	die "$name, restarted, holds $key again ($back): deleted after its rename and collected" if $back ne '';
	my $old = $node->safe_psql('postgres', qq{SELECT string_agg(node || ' ' || id, ', ') FROM mantis_stores WHERE node <> '$name'});
	die "rows of $name under a former name outlived its compactions: $old" if $old ne '';
	$self->{rename_checks}++;
}

# make_hub(node index) — the others list only this node (and it lists them
# all): their member sets differ, so no server may collect by
# acknowledgement; end_hub(node index) — the full mesh again
sub make_hub
{
	my ($self, $i) = @_;
	my $c = $self->{c};
	for my $j (grep { $_ != $i } 1 .. $#{ $c->{nodes} })
	{
		$self->set_peers($j, "tcp://127.0.0.1:$c->{proxy}{\"$j>$i\"}[0]");
	}
}

sub end_hub
{
	my ($self, $i) = @_;
	$self->set_peers($_, undef) for grep { $_ != $i } 1 .. $#{ $self->{c}{nodes} };
}

# cut_off(node index), reconnect(node index) — cut the node's links to its
# peers (through the TCP proxies), then heal them
sub cut_off { my ($self, $i) = @_; isolate($self->{c}, $i) }
sub reconnect { my ($self, $i) = @_; rejoin($self->{c}, $i) }

# pause_server(node index) — SIGSTOP of the postmaster first, so that it
# forks no new child meanwhile, then of its children; returns their pids
sub pause_server
{
	my ($self, $i) = @_;
	my $node = $self->node($i);
	my $pm = postmaster_pid($node) or die 'no postmaster.pid for ' . $node->name;
	kill 'STOP', $pm;
	$paused{$pm} = 1;
	my @children = grep { /^\d+$/ } split /\s+/, `pgrep -P $pm`;
	kill 'STOP', @children if @children;
	$paused{$_} = 1 for @children;
	return [ $pm, @children ];
}

# continue_server(node index, [postmaster, children...]) — SIGCONT of the
# children, then of the postmaster
sub continue_server
{
	my ($self, $i, $pids) = @_;
	my ($pm, @children) = @$pids;
	kill 'CONT', @children if @children;
	kill 'CONT', $pm;
	delete @paused{ $pm, @children };
}

# skew_clock(node index, %o), unskew_clock(node index) — shift the node's
# clock by o{skew_ms} (default 200), then back
sub skew_clock { my ($self, $i, %o) = @_; $self->set_skew($i, $o{skew_ms} // 200) }
sub unskew_clock { my ($self, $i) = @_; $self->set_skew($i, 0) }

# lower_limits(node index) — a restart with a value size limit below every
# value the writers make: all held back; restore_limits(node index) — a
# restart with the limit back
sub lower_limits
{
	my ($self, $i) = @_;
	my $node = $self->node($i);
	$node->append_conf('postgresql.conf', "mantis.max_value_size = 4\n");
	$node->restart;
}

sub restore_limits
{
	my ($self, $i) = @_;
	my $node = $self->node($i);
	$node->append_conf('postgresql.conf', "mantis.max_value_size = '1MB'\n");
	$node->restart;
}

# drop_extension(node index) — writes fail meanwhile: the functions are
# gone; create_extension(node index) — back, and flushed
sub drop_extension
{
	my ($self, $i) = @_;
	$self->node($i)->safe_psql('postgres', 'DROP EXTENSION mantis');
}

sub create_extension
{
	my ($self, $i) = @_;
	$self->node($i)->safe_psql('postgres', 'CREATE EXTENSION mantis');
	flushed($self->node($i));
}

# truncate_stores(node index) — empty mantis_stores under the server;
# node_flushed(node index) — wait until it is persisted again
sub truncate_stores
{
	my ($self, $i) = @_;
	$self->node($i)->safe_psql('postgres', 'TRUNCATE mantis_stores');
}

sub node_flushed
{
	my ($self, $i) = @_;
	flushed($self->node($i));
}

# fail_flushes(node index) — make the node's flushes fail
# (mantis.debug_fail_flush) and wait until one did; restore_flushes(node
# index) — back to normal, and flushed
sub fail_flushes
{
	my ($self, $i) = @_;
	my $node = $self->node($i);
	my $failures = $node->safe_psql('postgres', 'SELECT flush_failures FROM mantis_status');
	$node->safe_psql('postgres',
		'ALTER SYSTEM SET mantis.debug_fail_flush = on; SELECT pg_reload_conf()');
	$node->poll_query_until('postgres',
		"SELECT flush_failures::bigint > $failures FROM mantis_status")
	  or die 'the flushes of ' . $node->name . ' did not fail';
}

sub restore_flushes
{
	my ($self, $i) = @_;
	my $node = $self->node($i);
	$node->safe_psql('postgres',
		'ALTER SYSTEM RESET mantis.debug_fail_flush; SELECT pg_reload_conf()');
	flushed($node);
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
	my ($self, $i, %o) = @_;
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
	if ($o{lagging})
	{
		# cut the standby off its WAL, and let the primary flush once more
		# (mantis_flush() waits for a flush of the worker): the standby
		# promoted misses what the primary persisted - and acknowledged - last
		$standby->safe_psql('postgres',
			q{ALTER SYSTEM SET primary_conninfo = ''; SELECT pg_reload_conf()});
		$standby->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_stat_wal_receiver')
		  or die "the standby of $name still receives WAL";
		flushed($node);
		flushed($node);
	}

	my ($pm, @children) = server_pids($node);
	my $t0 = time();
	$node->kill9;
	$self->{killed}{$pm} = 1;
	my $t_dead = seen_dead($pm);
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (grep { alive($_) } $pm, @children)
	{
		die "processes of the killed primary $name live on" if time() > $deadline;
		usleep(20_000);
	}
	push @{ $self->{crashes} },
	  { node => $self->{names}[$i], kind => 'failover', from => $t0, to => time(), dead => $t_dead };
	# a zombie postmaster's socket lock would keep the port
	unlink($node->host . '/.s.PGSQL.' . $node->port . '.lock') if -e "/proc/$pm";

	$standby->stop('fast');
	$standby->append_conf('postgresql.conf', 'port = ' . $node->port . "\n");
	$standby->{_port} = $node->port;
	$standby->start;
	$standby->promote;
	# (postgresql.auto.conf would carry the cut-off into the base backups of
	# later failovers, whose standbys would then never stream)
	$standby->safe_psql('postgres', 'ALTER SYSTEM RESET primary_conninfo; SELECT pg_reload_conf()')
	  if $o{lagging};
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
