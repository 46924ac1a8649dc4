# MantisTest.pm — helpers shared by the TAP tests in test/t.
#
# Starts PostgreSQL servers with mantis preloaded (each small:
# shared_buffers = 32MB), and wraps the waits the tests need.
package MantisTest;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use Cwd ();
use File::Basename qw(dirname);
use POSIX ();
use IO::Socket::INET;
use Time::HiRes qw(usleep);

use Exporter 'import';
our @EXPORT = qw(mantis_node registers_dump worker_pid wait_for_worker kill_and_start alive
  mantis_cluster cut_link heal_link isolate rejoin wait_converged
  start_proxy stop_proxy peer_row build_probe build_slow_connect keygen build_release set_install_path
  wait_loaded wait_peers_connected hold_answers hold_requests release_answers wait_proxy_log
  refuse_connections signal_proxy server_major wait_event_name mixed_cluster upgrade_node);

my $proxy_script = dirname(__FILE__) . '/../tcp_proxy.pl';
my %proxy_pids;    # port => pid of a running proxy

# mantis_node(name, extra_conf, %opts) — a new, started server with mantis
# preloaded and the extension created in database "postgres".  With
# env => { VAR => value }, the server runs with those variables set (for
# example libfaketime's); init => { ... } is passed to Cluster->init (for
# example allows_streaming => 1), and with initdb => [ options ], initdb
# gets them too (for example another encoding).  With install_path => dir,
# the server runs that PostgreSQL installation (and its mantis): see
# build_release.
sub mantis_node
{
	my ($name, $conf, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name,
		$opts{install_path} ? (install_path => $opts{install_path}) : ());

	$node->init(%{ $opts{init} // {} }, extra => $opts{initdb} // []);
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'mantis'
shared_buffers = 32MB
max_connections = 40
restart_after_crash = on
mantis.node_name = '$name'
} . ($conf // ''));
	{
		local %ENV = (%ENV, %{ $opts{env} // {} });
		$node->start;
	}
	$node->safe_psql('postgres', 'CREATE EXTENSION mantis');
	$node->poll_query_until('postgres',
		q{SELECT persistence = 'ready' FROM mantis_status})
	  or die "mantis worker of $name did not become ready";
	return $node;
}

# registers_dump(node) — every register (deletion markers too) as sorted
# "key|value|hlc|node" lines, to compare stores exactly.
sub registers_dump
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT string_agg(key || '|' || coalesce(value, '<deleted>') || '|' || hlc || '|' || node, E'\n' ORDER BY key)
		    FROM mantis_registers(true)});
}

# worker_pid(node) — the pid of the mantis worker, or '' if none runs.
sub worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'mantis worker'});
}

# wait_for_worker(node, not_pid) — wait until a worker runs whose pid is not
# not_pid; returns its pid.
sub wait_for_worker
{
	my ($node, $not_pid) = @_;
	$not_pid //= 0;
	$node->poll_query_until('postgres',
		qq{SELECT count(*) = 1 FROM pg_stat_activity
		    WHERE backend_type = 'mantis worker' AND pid <> $not_pid})
	  or die "no mantis worker came up";
	return worker_pid($node);
}

# kill_and_start(node) — SIGKILL the postmaster, wait until every process it
# had is gone (its shared memory detached), then start the server again.  A
# dead postmaster nobody reaps stays a zombie that kill(pid, 0) still finds:
# then its lock files are removed, as they certainly belong to no server.
sub kill_and_start
{
	my ($node) = @_;
	my $pm = $node->{_pid} or die 'no postmaster pid';
	my @children;
	for my $stat (glob '/proc/[0-9]*/stat')
	{
		open(my $fh, '<', $stat) or next;
		my $line = <$fh> // '';
		close $fh;
		push @children, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $pm;
	}
	$node->kill9;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (grep { alive($_) } $pm, @children)
	{
		die "processes of the killed postmaster $pm live on" if time() > $deadline;
		usleep(20_000);
	}
	if (-e "/proc/$pm")
	{
		unlink($node->data_dir . '/postmaster.pid');
		unlink($node->host . '/.s.PGSQL.' . $node->port . '.lock');
	}
	$node->start;
}

# alive(pid) — the process exists and is not a zombie.
sub alive
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return 0;
	my $stat = <$fh> // '';
	close $fh;
	return $stat =~ /\)\s+([A-Za-z])\s/ && $1 ne 'Z' && $1 ne 'X';
}

# proxy_log(listen_port) — where the proxy on that port notes its events.
sub proxy_log
{
	my ($port) = @_;
	return "$PostgreSQL::Test::Utils::tmp_check/proxy-$port.log";
}

# start_proxy(listen_port, target_port) — a TCP proxy on 127.0.0.1.
sub start_proxy
{
	my ($port, $target) = @_;
	return if $proxy_pids{$port};    # already forwarding
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		exec($^X, $proxy_script, $port, $target, proxy_log($port)) or die "exec: $!";
	}
	$proxy_pids{$port} = $pid;
	for (1 .. 200)
	{
		die "proxy on port $port exited" if waitpid($pid, POSIX::WNOHANG()) == $pid;
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port);
		if ($s) { close $s; return; }
		usleep(20_000);
	}
	die "proxy on port $port did not start";
}

sub stop_proxy
{
	my ($port) = @_;
	my $pid = delete $proxy_pids{$port} or return;
	kill 'TERM', $pid;
	waitpid($pid, 0);
}

END
{
	local $?;    # waitpid must not change the test's exit status
	stop_proxy($_) for keys %proxy_pids;
}

my $src_dir = dirname(__FILE__) . '/../..';

# build_probe() — compile test/tools/mantis_probe.c; returns its path.
sub build_probe
{
	my $bin = "$PostgreSQL::Test::Utils::tmp_check/mantis_probe";
	return $bin if -x $bin;
	system('gcc', '-O1', '-I', "$src_dir/src", '-o', $bin,
		"$src_dir/test/tools/mantis_probe.c",
		glob("$src_dir/src/common/*.c"),
		'-lzmq') == 0
	  or die 'could not build mantis_probe';
	return $bin;
}

# build_slow_connect() — compile test/tools/slow_connect.c, an LD_PRELOAD
# library that makes libzmq's I/O thread connect slowly to the ports in
# MANTIS_SLOW_CONNECT_PORTS; returns its path.
sub build_slow_connect
{
	my $lib = "$PostgreSQL::Test::Utils::tmp_check/slow_connect.so";
	return $lib if -e $lib;
	system('gcc', '-O1', '-shared', '-fPIC', '-o', $lib,
		"$src_dir/test/tools/slow_connect.c", '-ldl', '-lpthread') == 0
	  or die 'could not build slow_connect.so';
	return $lib;
}

# build_release(commit) — mantis as it was at commit (a release), built by
# test/tools/build_release.sh into a PostgreSQL installation of its own,
# kept in tmp_check/release-<commit> for the next runs; returns the
# installation's root, for install_path.  Dies, saying why, if it cannot be
# built (a tree without its git history, say): a test that needs it fails.
sub build_release
{
	my ($commit) = @_;
	my $dir = dirname($ENV{TESTDIR} // $PostgreSQL::Test::Utils::tmp_check) . "/release-$commit";
	my $out = `bash $src_dir/test/tools/build_release.sh $commit $dir 2>&1`;
	die "could not build mantis $commit:\n$out" if $? != 0;
	my ($root) = $out =~ /([^\n]+)\n?\z/;
	die "build_release.sh printed no installation: $out" unless $root && -x "$root/bin/postgres";
	return $root;
}

# server_major() — the major version of the PostgreSQL the tests run
# (PG_CONFIG's, where mantis is installed), e.g. 18.
sub server_major
{
	my $config = $ENV{PG_CONFIG} // 'pg_config';
	my ($major) = `$config --version` =~ /^PostgreSQL (\d+)/;
	die "cannot tell the version of PostgreSQL from $config" unless $major;
	return $major;
}

# mixed_cluster(n, var) — for the tests across major versions: a cluster
# of n servers (mantis_cluster, fast repair and peer timeouts, JIT off)
# whose n1 runs the PostgreSQL 15 installation that environment variable
# var names, the others the installed later version.  Unless both are
# there, the file skips (plan skip_all), saying why: test/run_all.sh sets
# var in the 18 root (test/pg_root.sh).  Returns the cluster and 15's
# installation.
sub mixed_cluster
{
	my ($n, $var, %opts) = @_;
	my $old = $ENV{$var};
	Test::More::plan(skip_all =>
		  "needs PostgreSQL 15 beside a later version ($var; test/run_all.sh runs it in the 18 root)")
	  unless $old && -x "$old/bin/postgres";
	Test::More::plan(skip_all => 'the installed PostgreSQL is 15 too') if server_major() == 15;
	my $c = mantis_cluster($n, qq{
mantis.sync_interval = '1s'
mantis.peer_timeout = '2s'
jit = off
}, %opts, node_opts => { 1 => { install_path => $old } });
	return ($c, $old);
}

# upgrade_node(node, old_install) — pg_upgrade of the stopped node (of
# the PostgreSQL installation old_install) to the installed version, as
# README's "Upgrading PostgreSQL" says: a new cluster made by the new
# initdb (no data checksums: 15's initdb does not enable them) with the
# node's settings (shared_preload_libraries, every mantis.*), upgraded with
# --retain (its logs kept in pg_upgrade_output.d).  Returns the new,
# stopped node; bails out, with pg_upgrade's logs, if pg_upgrade fails.
sub upgrade_node
{
	my ($node, $old) = @_;
	my $new = PostgreSQL::Test::Cluster->new($node->name . '_upgraded');
	$new->init(server_major() >= 18 ? (no_data_checksums => 1) : ());
	open my $conf, '<', $node->data_dir . '/postgresql.conf' or die;
	my $settings = join '', grep { /^(mantis\.|shared_preload_libraries|shared_buffers|max_connections|jit)/ } <$conf>;
	close $conf;
	$new->append_conf('postgresql.conf', $settings);
	$new->{mantis_settings} = $settings;

	my $work = PostgreSQL::Test::Utils::tempdir();
	my $cwd = Cwd::getcwd();
	chdir $work or die;    # pg_upgrade writes its scripts into the working directory
	my $upgraded = PostgreSQL::Test::Utils::run_log(
		[
			$new->config_data('--bindir') . '/pg_upgrade', '--no-sync', '--retain',
			'-b', "$old/bin", '-B', $new->config_data('--bindir'),
			'-d', $node->data_dir, '-D', $new->data_dir,
			'-p', $node->port, '-P', $new->port, '-s', $work,
			'-U', scalar getpwuid($<),
		]);
	chdir $cwd or die;
	Test::More::ok($upgraded, 'pg_upgrade from ' . $node->name . "'s 15 to " . server_major());
	if (!$upgraded)
	{
		for my $log (glob($new->data_dir . '/pg_upgrade_output.d/*/log/*'))
		{
			open my $f, '<', $log or next;
			Test::More::diag("--- $log\n" . join('', <$f>));
		}
		Test::More::BAIL_OUT('pg_upgrade failed');
	}
	return $new;
}

# wait_event_name(name) — what pg_stat_activity.wait_event shows for
# mantis's wait of that name (src/wait_events.c): the name from
# PostgreSQL 17, 'Extension' before.
sub wait_event_name
{
	my ($name) = @_;
	return server_major() >= 17 ? $name : 'Extension';
}

# set_install_path(node, dir) — the PostgreSQL installation the (stopped)
# node runs from its next start, undef for that of PATH (the installed
# mantis): an upgrade, or a downgrade, of its library.  PostgreSQL 15's
# Cluster.pm has no setter, and new() refuses a node's existing base
# directory, so this sets the field install_path => gives new() (its
# commands read it each time) and reads the version again.
sub set_install_path
{
	my ($node, $dir) = @_;
	die $node->name . ' is running' if defined $node->{_pid};
	if (defined $dir) { $node->{_install_path} = $dir } else { delete $node->{_install_path} }
	$node->_set_pg_version;
}

# keygen(name, path) — a CURVE key pair file made by mantis_keygen;
# returns the public key.
sub keygen
{
	my ($name, $path) = @_;
	my $line = `mantis_keygen $name $path`;
	die "mantis_keygen failed" if $? != 0;
	my (undef, $public) = split ' ', $line;
	return $public;
}

# mantis_cluster(n, extra_conf, %opts) — n servers n1..n$n, each listening on
# a ZeroMQ port of its own and reaching every other one through a proxy of
# its own (so links can be cut one direction at a time).  With curve => 1,
# every node gets a key pair and a peers file listing the others.  Returns a
# hash: nodes => [undef, n1, n2, ...] (prefix => 'x' names them x1, x2, ...),
# zmq => [undef, port, ...],
# proxy => { "i>j" => [listen port, target port] }, and with CURVE
# keys => [undef, public key, ...], key_files, peers_files.  With
# node_conf => { i => text }, n_i gets that text after extra_conf; with
# node_opts => { i => { ... } }, n_i gets those options of mantis_node
# (e.g. an install_path of its own) over the others.
sub mantis_cluster
{
	my ($n, $conf, %opts) = @_;
	my %c = (nodes => [undef], zmq => [undef], proxy => {});
	my $curve = delete $opts{curve};
	my $node_conf = delete $opts{node_conf} // {};
	my $node_opts = delete $opts{node_opts} // {};
	my $p = delete $opts{prefix} // 'n';    # node names: n1, n2, ...

	push @{ $c{zmq} }, PostgreSQL::Test::Cluster::get_free_port() for 1 .. $n;
	for my $i (1 .. $n)
	{
		for my $j (1 .. $n)
		{
			next if $i == $j;
			my $port = PostgreSQL::Test::Cluster::get_free_port();
			$c{proxy}{"$i>$j"} = [ $port, $c{zmq}[$j] ];
			start_proxy($port, $c{zmq}[$j]);
		}
	}
	if ($curve)
	{
		my $dir = PostgreSQL::Test::Utils::tempdir();
		for my $i (1 .. $n)
		{
			$c{key_files}[$i] = "$dir/$p$i.key";
			$c{keys}[$i] = keygen("$p$i", $c{key_files}[$i]);
		}
		for my $i (1 .. $n)
		{
			$c{peers_files}[$i] = "$dir/$p$i.peers";
			open my $f, '>', $c{peers_files}[$i] or die;
			for my $j (grep { $_ != $i } 1 .. $n)
			{
				print $f "$p$j $c{keys}[$j] tcp://127.0.0.1:$c{proxy}{\"$i>$j\"}[0]\n";
			}
			close $f;
		}
	}
	for my $i (1 .. $n)
	{
		my $peers = join(',',
			map { "tcp://127.0.0.1:$c{proxy}{\"$i>$_\"}[0]" } grep { $_ != $i } 1 .. $n);
		my $curve_conf = $curve ? qq{
mantis.curve_secret_key_file = '$c{key_files}[$i]'
mantis.curve_peers_file = '$c{peers_files}[$i]'
} : '';
		push @{ $c{nodes} }, mantis_node("$p$i", qq{
mantis.listen = 'tcp://127.0.0.1:$c{zmq}[$i]'
mantis.peers = '$peers'
} . $curve_conf . ($conf // '') . ($node_conf->{$i} // ''), %opts, %{ $node_opts->{$i} // {} });
	}
	return \%c;
}

# cut_link(cluster, i, j) / heal_link — the link from n_i to n_j (i's
# connection to j, which also carries j's answers).
sub cut_link
{
	my ($c, $i, $j) = @_;
	stop_proxy($c->{proxy}{"$i>$j"}[0]);
}

sub heal_link
{
	my ($c, $i, $j) = @_;
	start_proxy(@{ $c->{proxy}{"$i>$j"} });
}

# wait_proxy_log(port, regex, count) — until the log of the proxy on that
# port has count lines (1 if not given) matching regex since it began;
# dies if it does not within the default timeout.
sub wait_proxy_log
{
	my ($port, $re, $count) = @_;
	$count //= 1;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (time() < $deadline)
	{
		if (open(my $f, '<', proxy_log($port)))
		{
			my $seen = grep { /$re/ } <$f>;
			close $f;
			return 1 if $seen >= $count;
		}
		usleep(50_000);
	}
	die "proxy on port $port logged no $count lines like $re";
}

# hold_answers(cluster, i, j, types...) / release_answers — the proxy of
# n_i's connection to n_j keeps n_j's answers (those of the mantis frame
# types given, or all), the connection staying up (see tcp_proxy.pl), from
# when it returns; then forwards them.  hold_requests keeps what n_i sends
# instead, also once n_i has gone away.
sub hold_answers
{
	my ($c, $i, $j, @types) = @_;
	hold_messages($c->{proxy}{"$i>$j"}[0], @types);
}

sub hold_requests
{
	my ($c, $i, $j, @types) = @_;
	hold_messages($c->{proxy}{"$i>$j"}[0], 'requests', @types);
}

sub hold_messages
{
	my ($port, @words) = @_;
	unlink(proxy_log($port) . '.hold');
	if (@words)
	{
		open(my $f, '>', proxy_log($port) . '.hold') or die "cannot write the hold file: $!";
		print $f join(' ', @words), "\n";
		close $f;
	}
	my $before = proxy_log_count($port, qr/^holding$/);
	kill 'USR1', $proxy_pids{$port} or die "no proxy on port $port";
	wait_proxy_log($port, qr/^holding$/, $before + 1);
}

sub release_answers
{
	my ($c, $i, $j) = @_;
	my $port = $c->{proxy}{"$i>$j"}[0];
	my $before = proxy_log_count($port, qr/^released /);
	kill 'USR2', $proxy_pids{$port} or die "no proxy on port $port";
	wait_proxy_log($port, qr/^released /, $before + 1);
}

# refuse_connections(cluster, i, j, on) — while on, the proxy of n_i's
# connection to n_j closes new connections at once (those up go on).
sub refuse_connections
{
	my ($c, $i, $j, $on) = @_;
	my $file = proxy_log($c->{proxy}{"$i>$j"}[0]) . '.refuse';
	if ($on)
	{
		open(my $f, '>', $file) or die "cannot write $file: $!";
		close $f;
	}
	else
	{
		unlink($file);
	}
}

# signal_proxy(cluster, i, j, signal) — sends a signal (e.g. STOP, CONT)
# to the proxy of n_i's connection to n_j.
sub signal_proxy
{
	my ($c, $i, $j, $sig) = @_;
	my $port = $c->{proxy}{"$i>$j"}[0];
	kill $sig, $proxy_pids{$port} or die "no proxy on port $port";
}

sub proxy_log_count
{
	my ($port, $re) = @_;
	open(my $f, '<', proxy_log($port)) or return 0;
	my $n = grep { /$re/ } <$f>;
	close $f;
	return $n;
}

# isolate(cluster, k) / rejoin — cut / heal every link to and from n_k.
sub isolate
{
	my ($c, $k) = @_;
	for my $j (1 .. $#{ $c->{nodes} })
	{
		next if $j == $k;
		cut_link($c, $k, $j);
		cut_link($c, $j, $k);
	}
}

sub rejoin
{
	my ($c, $k) = @_;
	for my $j (1 .. $#{ $c->{nodes} })
	{
		next if $j == $k;
		heal_link($c, $k, $j);
		heal_link($c, $j, $k);
	}
}

# wait_converged(nodes...) — wait until every node holds the same registers,
# HLCs and deletion markers included; returns true if they did within the
# default timeout.  (Nodes of any release since 1.2.)
sub wait_converged
{
	my @nodes = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (time() < $deadline)
	{
		my $first = registers_dump($nodes[0]);
		return 1 unless grep { registers_dump($_) ne $first } @nodes[ 1 .. $#nodes ];
		usleep(200_000);
	}
	# what collection saw, to tell a divergence from markers not yet collected
	for my $node (@nodes)
	{
		Test::More::diag($node->name . ': ' . $node->safe_psql('postgres',
			q{SELECT format('keys %s, markers %s, expired %s, horizon %s, lifetime horizon %s',
			   keys, deleted_keys, expired_keys, collection_horizon,
			   coalesce(to_jsonb(s) ->> 'refusal_horizon', to_jsonb(s) ->> 'lifetime_horizon'))
			    FROM mantis_status s}));
		Test::More::diag($node->safe_psql('postgres',
			q{SELECT string_agg(format('  peer %s %s %s: acknowledged %s', node_name, direction, state,
			   acknowledged), E'\n') FROM mantis_peers}));
	}
	return 0;
}

# peer_row(node, name) — the mantis_peers row of a node's peer, as a hash.
sub peer_row
{
	my ($node, $name) = @_;
	my $row = $node->safe_psql('postgres',
		qq{SELECT row_to_json(p) FROM mantis_peers p WHERE node_name = '$name' LIMIT 1});
	my %h;
	while ($row =~ /"(\w+)":("[^"]*"|null|[-\d.]+)/g)
	{
		my ($k, $v) = ($1, $2);
		$v =~ s/^"|"$//g;
		$h{$k} = $v eq 'null' ? undef : $v;
	}
	return \%h;
}


# wait_loaded(node) — until the node's persistence worker has loaded its
# store (mantis_status.persistence = 'ready'); dies if it never does.
sub wait_loaded
{
	my ($node) = @_;
	$node->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
	  or die $node->name . ' did not load its store';
}

# wait_peers_connected(count, nodes...) — until each node has count peers
# connected; dies if one never has.
sub wait_peers_connected
{
	my ($count, @nodes) = @_;
	for my $n (@nodes)
	{
		$n->poll_query_until('postgres', qq{SELECT count(*) = $count FROM mantis_peers WHERE state = 'connected'})
		  or die $n->name . " did not connect to its $count peers";
	}
}

1;
