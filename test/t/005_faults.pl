# Jepsen-style fault injection: three servers, a writer on each recording
# every operation (test/fault/writer.c: writes, expiring writes, deletions,
# and reads of keys it wrote), and a nemesis that, one fault at a time,
# kills mantis workers and postmasters, restarts servers fast and
# immediately, partitions a node, pauses a whole server, skews a clock
# within bound, and changes who is in the cluster (a peer removed and added
# back, a lagging standby promoted, a hub, a node renamed: MantisFault.pm
# lists every kind); each fault is healed before the next.  Afterwards the
# cluster must converge, and a checker compares the writers' histories with
# the final registers: nothing acknowledged is lost (except what the README
# says a crash may lose), nothing is invented, nothing expired outlives its
# expiry, HLCs from one node increase, no read returned a value after a
# deletion or an expiry that happened before it, no write sent to a server
# whose postmaster was killed and seen dead was acknowledged, every
# deletion marker and expired register is collected once every peer
# acknowledged it, and no server crashed by itself.
#
# Environment:
#   MANTIS_SOAK_SECONDS=N  the fault phase lasts N seconds instead of the
#                          short default (60 s, the whole test about 75 s
#                          here); for manual soak runs.
#   MANTIS_FAULT_SEED=S    replay the fault sequence of seed S (every run
#                          notes its seed); the timing of the writes still
#                          differs from run to run.
#   MANTIS_FAULT_KINDS=k,..  draw only these kinds of fault (names as
#                          MantisFault.pm has them), to soak one or a few.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use List::Util qw(min);
use Time::HiRes qw(time sleep);
use MantisTest;
use MantisFault;
use MantisHistory;

my $fault_seconds = $ENV{MANTIS_SOAK_SECONDS} // 60;
my @kinds = $ENV{MANTIS_FAULT_KINDS} ? split(/,/, $ENV{MANTIS_FAULT_KINDS}) : @MantisFault::FAULT_KINDS;
for my $kind (@kinds)
{
	die "MANTIS_FAULT_KINDS: no fault kind $kind" unless grep { $_ eq $kind } @MantisFault::FAULT_KINDS;
}
my $seed = $ENV{MANTIS_FAULT_SEED} // (int(time() * 1000) ^ ($$ << 12)) % 1_000_000_000;
note("fault seed $seed (replay with MANTIS_FAULT_SEED=$seed), fault phase $fault_seconds s");
srand($seed);

# what a crash may lose: the writes of the last flush interval, plus a margin
my $flush_interval = 1;
my $loss_window = $flush_interval + 0.5;
# a write sent this long after a killed postmaster was seen dead must not
# have been acknowledged (MantisHistory.pm, check_acked_after_death: the
# writer logs its attempt before sending it, and the nemesis sees the death
# after it happened, so in principle no margin is needed; 5 ms spare for
# reading one clock in two processes)
my $death_margin = 0.005;
# a server hides a register at its expiry, +- this
my $max_clock_offset = 0.5;
# the read check's allowance for replication across nodes (MantisHistory.pm,
# check_history): a write acknowledged by one node is on the others this
# long after, unless a fault touches one of them
my $peer_timeout = 2;
my $replication_allowance = 2 * $peer_timeout;

my $t_start = time();
my $c = mantis_cluster(3, qq{
mantis.sync_interval = '1s'
mantis.peer_timeout = '${peer_timeout}s'
mantis.flush_interval = '${flush_interval}s'
mantis.max_clock_offset = '${max_clock_offset}s'
# long: markers and expired registers go only once every peer acknowledged
mantis.tombstone_lifetime = '1h'
mantis.max_keys = 400000
log_statement = none
}, init => { allows_streaming => 1 });
my @nodes = @{ $c->{nodes} }[ 1 .. 3 ];
my %node_id = map {
	$_->name => $_->safe_psql('postgres', 'SELECT node_id FROM mantis_status')
} @nodes;

my $nemesis = MantisFault->new($c);
$nemesis->wait_healthy;
pass('three nodes up, each connected to the two others');

# --- writers on every node --------------------------------------------------
# Half the writes to 100 shared keys, half to keys of their own; a fifth
# with a ttl of 0.3 to 3 s; 5% deletions with mantis_delete, and 5% more
# of the shared keys'; after half the writes, a read
# of one of the writer's last 4096 keys.
my ($ttl_min_ms, $ttl_max_ms) = (300, 3000);
my $writer = build_writer(PostgreSQL::Test::Utils::tempdir());
my $writers = start_writers($writer, $c, $PostgreSQL::Test::Utils::log_path, $seed,
	seconds => $fault_seconds + 300,    # a cap: stop_writers ends them
	hot_keys => 100,
	interval_us => 3000,
	unique_pct => 50,
	unique_keys => 100000,
	ttl_pct => 20,
	ttl_min_ms => $ttl_min_ms,
	ttl_max_ms => $ttl_max_ms,
	delete_pct => 5,
	read_pct => 50);
# a follower of the change feed on every node (test/fault/follower.c)
my $followers = start_followers(build_follower(PostgreSQL::Test::Utils::tempdir()), $c,
	$PostgreSQL::Test::Utils::log_path);
for my $i (1 .. 3)
{
	my $log = $writers->{$i}[1];
	# wait for the first acknowledged write of each writer
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	sleep(0.05) until (-s $log && slurp_file($log) =~ /^ok /m) || time() > $deadline;
}

# --- the nemesis ------------------------------------------------------------
# Kinds come from shuffled bags of all kinds, so that the short form sees
# every kind; the target node, durations and offsets are drawn for every
# fault, whatever its kind, so that a seed always gives the same sequence.
sub shuffled
{
	my @a = @_;
	for (my $i = $#a; $i > 0; $i--)
	{
		my $j = int(rand($i + 1));
		@a[ $i, $j ] = @a[ $j, $i ];
	}
	return @a;
}

my $t_faults = time();
my @bag;
while (time() < $t_faults + $fault_seconds)
{
	@bag = shuffled(@kinds) unless @bag;
	my $kind = shift @bag;
	my $i = 1 + int(rand(3));
	my $secs = 1 + rand(2);
	my $skew = int(rand(601)) - 300;
	my $quiet = 0.5 + rand(1);
	note(sprintf('%6.1f s: %s on n%d%s', time() - $t_faults, $kind, $i,
		$kind eq 'clock_skew' ? sprintf(' (%+d ms for %.1f s)', $skew, $secs)
		  : $kind =~ /partition|pause/ ? sprintf(' (%.1f s)', $secs) : ''));
	$nemesis->inject($kind, $i, seconds => $secs, skew_ms => $skew);
	sleep($quiet);    # normal operation between two faults
}
my $t_fault_phase = time() - $t_faults;

# --- heal, stop the writers, converge ---------------------------------------
$nemesis->heal_all;
@nodes = @{ $c->{nodes} }[ 1 .. 3 ];    # a failover put a standby in place
ok(stop_writers($writers), 'every writer stopped by itself');
my $t_stopped = time();
# until_all(query, nodes) — poll the query on every node until it returns
# true; true if it did everywhere.  Once a node timed out, the others get
# one try each (a broken run need not wait the timeout on every node).
sub until_all
{
	my ($query, @on) = @_;
	my $all = 1;
	for my $node (@on)
	{
		my $ok = $all ? $node->poll_query_until('postgres', $query)
		  : $node->safe_psql('postgres', $query) eq 't';
		$all &&= $ok;
	}
	return $all;
}

# every expiring write runs out within seconds: then no server has a live
# register with an expiry (they would turn dead in the dumps at slightly
# different times)
ok(until_all(q{SELECT count(*) = 0 FROM mantis_registers() WHERE expires_at IS NOT NULL}, @nodes),
	"every expiring register ran out on every node (ttls up to $ttl_max_ms ms)");
my ($t_final, @dumps) = converged_dumps(@nodes);
ok(defined $t_final, 'after the faults the three nodes converge');
@dumps = map { registers_dump_expiry($_) } @nodes unless defined $t_final;    # to show how not
my $t_converged = time();

my %faults = %{ $nemesis->{counts} };
my $nfaults = 0;
$nfaults += $_ for values %faults;
note(sprintf('faults survived: %d in %.0f s: %s', $nfaults, $t_fault_phase,
	join(', ', map { "$_ " . ($faults{$_} // 0) } @MantisFault::FAULT_KINDS)));
note(sprintf('renames: %d (%s), each with a deletion under the new name collected, compacted away and still deleted after a restart',
	$nemesis->{rename_checks}, join(', ', map { "$_->{node} to $_->{name}" } @{ $nemesis->{renames} }) || 'none'));
note("$nemesis->{unreaped} killed postmasters were still unreaped zombies after 5 s: their postmaster.pid was removed")
  if $nemesis->{unreaped};
cmp_ok($nfaults, '>=', 1, 'the nemesis injected faults');

# --- the checker (MantisHistory.pm) -----------------------------------------
# by the writer's (the node's first mantis node name): a promoted standby
# writes as the node it replaced, a renamed node under its new name
my %logs = map { ("n$_") => read_writer_log($writers->{$_}[1], "n$_") } 1 .. 3;
my $r = check_history(
	dumps => { map { ("n$_") => $dumps[ $_ - 1 ] } 1 .. 3 },
	finals => $dumps[0],
	node_ids => \%node_id,
	renames => $nemesis->{renames},
	logs => \%logs,
	probes => $nemesis->{probes},
	crashes => $nemesis->{crashes},
	window => $loss_window,
	death_margin => $death_margin,
	final_time => $t_final // time(),
	faults => $nemesis->{faults},
	offset => $max_clock_offset,
	replication => $replication_allowance);

note(sprintf('writes checked: %d attempted, %d ok, %d fail, %d unknown; %d registers at the end',
	$r->{attempt}, $r->{ok}, $r->{fail}, $r->{unknown}, $r->{registers}));
note(sprintf('acknowledged writes: %d the final register (%d of them deletions or expiries whose key has none left), '
	  . '%d beaten by a greater HLC (%d by a deletion or expiry since collected), %d excused losses (%s); '
	  . '%d acknowledged expiring writes, %d deletions (%d whose HLC could not be read back)',
	$r->{survived}, $r->{vanished}, $r->{beaten}, $r->{beaten_gone}, $r->{excused},
	join(', ', map { "$_ $r->{excused_by}{$_}" } sort keys %{ $r->{excused_by} }) || 'none',
	$r->{ttl_acked}, $r->{del_acked}, $r->{no_hlc}));
note(sprintf('reads: %d answered (%d NULL, %d of acknowledged values checked, %d not checked: made with limits lowered), '
	  . '%d failed, %d unknown; %d stale (a later plain write had happened before; not checked)',
	$r->{read}, $r->{reads_null}, $r->{reads_checked}, $r->{reads_limited}, $r->{'read-fail'},
	$r->{'read-unknown'}, $r->{stale}));
note("  stale: $_") for @{ $r->{stale_examples} };
for my $crash (grep { $_->{lost} } @{ $nemesis->{crashes} })
{
	note(sprintf('  %s of %s at %.1f s: %d acknowledged writes lost, the oldest %s',
		$crash->{kind}, $crash->{node}, $crash->{from} - $t_faults, $crash->{lost},
		$crash->{oldest} >= 0
		? sprintf('acknowledged %.0f ms before the crash', 1000 * $crash->{oldest})
		: sprintf('acknowledged %.0f ms after the signal, before the server went down',
			-1000 * $crash->{oldest})));
}
for my $crash (grep { defined $_->{dead} } @{ $nemesis->{crashes} })
{
	note(sprintf('  %s of %s at %.1f s: seen dead %.1f ms after the kill; %d writes acknowledged after the kill%s',
		$crash->{kind}, $crash->{node}, $crash->{from} - $t_faults,
		1000 * ($crash->{dead} - $crash->{from}), $crash->{acked_after},
		$crash->{acked_after}
		? sprintf(', the last %.0f ms after it, the latest sent %+.1f ms from the death', 1000 * $crash->{last_ack},
			1000 * $crash->{last_sent})
		: ''));
}
cmp_ok($r->{ok}, '>', 1000, 'the writers made acknowledged writes');

# (0) a server whose postmaster is dead acknowledges no write
is($r->{n_acked_dead}, 0,
	sprintf('no write sent more than %.0f ms after a killed postmaster was seen dead was acknowledged', 1000 * $death_margin))
  or diag(join("\n", @{ $r->{acked_dead} }));

# (1) converged: identical registers, HLCs and nodes included, everywhere
is($r->{n_diverged}, 0, 'n2 and n3 hold exactly the registers of n1')
  or diag(join("\n", 'registers of n1 / of the other node:', @{ $r->{diverged} }));

# (2) nothing lost, but what a crash may lose
is($r->{n_lost}, 0,
	"every acknowledged write is final or beaten by a greater HLC, but writes of the ${loss_window} s before a crash of their node")
  or diag(join("\n", 'lost writes:', @{ $r->{lost} }));
is($r->{n_mismatch}, 0, 'a final register with an acknowledged HLC holds that write')
  or diag(join("\n", @{ $r->{mismatch} }));

# (3) no phantoms
is($r->{n_phantom}, 0, 'every final register was written by a writer, with its node\'s HLC')
  or diag(join("\n", @{ $r->{phantom} }));

# (4) the HLCs one node acknowledges strictly increase
is($r->{n_hlc_order}, 0, 'every writer saw strictly increasing HLCs')
  or diag(join("\n", 'HLCs out of order:', @{ $r->{hlc_order} },
	'fault timeline:', map { sprintf('%.3f %s', @$_) } @{ $nemesis->{events} }));

# (5) nothing written with a ttl is held after its expiry
is($r->{n_expired}, 0, 'no final register holds a value whose ttl ran out')
  or diag(join("\n", @{ $r->{expired} }));

# (6) reads: nothing deleted or expired is read again
cmp_ok($r->{reads_checked}, '>', 1000, 'the writers read acknowledged values back');
is($r->{n_read_deleted}, 0,
	'no read returned a value after a deletion with a greater HLC that happened before it')
  or diag(join("\n", @{ $r->{read_deleted} }));
is($r->{n_read_expired}, 0,
	'no read returned a value after its expiry, or after an expiring write with a greater HLC that happened before it and ran out')
  or diag(join("\n", @{ $r->{read_expired} }));

# (6b) the change feed: every register a node holds at the end was given to
# the follower of that node at least once, through every fault (a lost
# connection resumes from its cursor; a cursor the server cannot answer
# loads everything again)
for my $i (1 .. 3)
{
	my @missing = follower_missing($nodes[ $i - 1 ], $followers->{$i}[1]);
	is(scalar(@missing), 0, "n$i: its follower was given every register n$i holds at the end")
	  or diag(join("\n", 'never given (key hlc):', @missing[ 0 .. min(19, $#missing) ]));
}
my $loads = 0;
for my $f (values %$followers)
{
	$loads += () = slurp_file($f->[1]) =~ /^load$/mg;
}
note(sprintf('followers: %d loads of every register (one each at the start; more after a cursor the server could not answer)',
	$loads));
ok(stop_writers($followers), 'every follower stopped by itself');

# (7) collection: with every peer there, every deletion marker and expired
# register goes within seconds, and only those
my $t_collect = time();
ok(until_all('SELECT deleted_keys = 0 AND expired_keys = 0 FROM mantis_status', @nodes),
	'every deletion marker and expired register collected on every node')
  or diag(join("\n", map { $_->safe_psql('postgres',
		'SELECT row_to_json(s) FROM mantis_status s UNION ALL SELECT row_to_json(p) FROM mantis_peers p') } @nodes));
my $t_collected = time() - $t_collect;
my ($collected_deletions, $collected_expired) = (0, 0);
for my $node (@nodes)
{
	my ($d, $e) = split /\|/, $node->safe_psql('postgres',
		'SELECT collected_deletions, collected_expired FROM mantis_status');
	$collected_deletions += $d;
	$collected_expired += $e;
}
note(sprintf('collected after the faults within %.1f s; since the servers started: %d deletion markers, %d expired registers',
	$t_collected, $collected_deletions, $collected_expired));
cmp_ok($collected_deletions, '>', 0, 'deletion markers were collected');
cmp_ok($collected_expired, '>', 0, 'expired registers were collected');
# (a dead register a peer sent back before its own sweep may be held again
# for a moment, to be collected again: compare the live registers)
sub live_only { join("\n", grep { !/^[^|]*\|<(deleted|expired)>\|/ } split /\n/, $_[0]) }
my $live = live_only($dumps[0]);
is(live_only(registers_dump_expiry($_)), $live, $_->name . ': after collection, exactly the live registers of before')
  for @nodes;

# every key written with a ttl or deleted reads, on every node, as its final
# register, with no time to live left
my %final_value;
for my $l (split /\n/, $live)
{
	my ($k, $v) = split /\|/, $l;
	$final_value{$k} = $v;
}
my %touched;
for my $ops (values %logs)
{
	$touched{ $_->{key} } = 1
	  for grep { $_->{kind} eq 'attempt' && $_->{op} ne 'set' } @$ops;
}
my @touched = sort keys %touched;
my $expect = join("\n", map { "$_|" . ($final_value{$_} // '<null>') . '|-' } @touched);
for my $node (@nodes)
{
	my $got = $node->safe_psql('postgres',
		q{SELECT string_agg(k || '|' || coalesce(mantis_get(k), '<null>') || '|'
		                      || coalesce(mantis_ttl(k)::text, '-'), E'\n' ORDER BY k)
		    FROM unnest(ARRAY[} . join(',', map { "'$_'" } @touched) . q{]::text[]) k});
	is($got, $expect, $node->name . ': ' . scalar(@touched)
		  . ' keys written with a ttl or deleted read as their final registers, none with a ttl left');
}

# (8) no crash but the nemesis's
for my $node (@nodes)
{
	my @bad = server_log_problems($node, $nemesis->{killed});
	is(scalar(@bad), 0, $node->name . ': no PANIC, no process ended by a signal the nemesis did not send')
	  or diag(join("\n", @bad));
}

$_->stop for @nodes;
note(sprintf('durations: setup %.0f s, faults %.0f s, expiry and convergence %.1f s, checks %.0f s, total %.0f s',
	$t_faults - $t_start, $t_fault_phase, $t_converged - $t_stopped,
	time() - $t_converged, time() - $t_start));
done_testing();
