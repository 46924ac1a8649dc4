# Jepsen-style fault injection: three servers, a writer on each recording
# every operation (test/fault/writer.c), and a nemesis that, one fault at a
# time, kills mantis workers and postmasters, restarts servers fast and
# immediately, partitions a node, pauses a whole server, and skews a clock
# within bound; each fault is healed before the next.  Afterwards the
# cluster must converge, and a checker compares the writers' histories with
# the final registers: nothing acknowledged is lost (except what the README
# says a crash may lose), nothing is invented, HLCs from one node increase,
# and no server crashed by itself.
#
# Environment:
#   MANTIS_SOAK_SECONDS=N  the fault phase lasts N seconds instead of the
#                          short default (60 s, the whole test about 75 s
#                          here); for manual soak runs.
#   MANTIS_FAULT_SEED=S    replay the fault sequence of seed S (every run
#                          notes its seed); the timing of the writes still
#                          differs from run to run.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use MantisTest;
use MantisFault;

my $fault_seconds = $ENV{MANTIS_SOAK_SECONDS} // 60;
my $seed = $ENV{MANTIS_FAULT_SEED} // (int(time() * 1000) ^ ($$ << 12)) % 1_000_000_000;
note("fault seed $seed (replay with MANTIS_FAULT_SEED=$seed), fault phase $fault_seconds s");
srand($seed);

# what a crash may lose: the writes of the last flush interval, plus a margin
my $flush_interval = 1;
my $loss_window = $flush_interval + 0.5;

my $t_start = time();
my $c = mantis_cluster(3, qq{
mantis.sync_interval = '1s'
mantis.peer_timeout = '2s'
mantis.flush_interval = '${flush_interval}s'
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
my $writer = build_writer(PostgreSQL::Test::Utils::tempdir());
my $writers = start_writers($writer, $c, $PostgreSQL::Test::Utils::log_path, $seed,
	seconds => $fault_seconds + 300,    # a cap: stop_writers ends them
	hot_keys => 100,
	interval_us => 3000,
	unique_pct => 50,
	unique_keys => 100000);
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
	@bag = shuffled(@MantisFault::FAULT_KINDS) unless @bag;
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
ok(wait_converged(@nodes), 'after the faults the three nodes converge');
my $t_converged = time();

my %faults = %{ $nemesis->{counts} };
my $nfaults = 0;
$nfaults += $_ for values %faults;
note(sprintf('faults survived: %d in %.0f s: %s', $nfaults, $t_fault_phase,
	join(', ', map { "$_ " . ($faults{$_} // 0) } @MantisFault::FAULT_KINDS)));
note("$nemesis->{unreaped} killed postmasters were still unreaped zombies after 5 s: their postmaster.pid was removed")
  if $nemesis->{unreaped};
cmp_ok($nfaults, '>=', 1, 'the nemesis injected faults');

# --- the checker ------------------------------------------------------------
# (1) converged: identical registers, HLCs and nodes included, everywhere
my @dumps = map { registers_dump($_) } @nodes;
is($dumps[1], $dumps[0], 'n2 holds exactly the registers of n1');
is($dumps[2], $dumps[0], 'n3 holds exactly the registers of n1');

# by mantis node name: a promoted standby writes as the node it replaced
my %logs = map { ("n$_") => read_writer_log($writers->{$_}[1], "n$_") } 1 .. 3;
my $r = check_history(
	finals => $dumps[0],
	node_ids => \%node_id,
	logs => \%logs,
	probes => $nemesis->{probes},
	crashes => $nemesis->{crashes},
	window => $loss_window);

note(sprintf('writes checked: %d attempted, %d ok, %d fail, %d unknown; %d registers at the end',
	$r->{attempt}, $r->{ok}, $r->{fail}, $r->{unknown}, $r->{registers}));
note(sprintf('acknowledged writes: %d the final register, %d beaten by a greater HLC, %d excused losses (%s)',
	$r->{survived}, $r->{beaten}, $r->{excused},
	join(', ', map { "$_ $r->{excused_by}{$_}" } sort keys %{ $r->{excused_by} }) || 'none'));
for my $crash (grep { $_->{lost} } @{ $nemesis->{crashes} })
{
	note(sprintf('  %s of %s at %.1f s: %d acknowledged writes lost, the oldest %s',
		$crash->{kind}, $crash->{node}, $crash->{from} - $t_faults, $crash->{lost},
		$crash->{oldest} >= 0
		? sprintf('acknowledged %.0f ms before the crash', 1000 * $crash->{oldest})
		: sprintf('acknowledged %.0f ms after the signal, before the server went down',
			-1000 * $crash->{oldest})));
}
cmp_ok($r->{ok}, '>', 1000, 'the writers made acknowledged writes');

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

# (5) no crash but the nemesis's
for my $node (@nodes)
{
	my @bad = server_log_problems($node, $nemesis->{killed});
	is(scalar(@bad), 0, $node->name . ': no PANIC, no process ended by a signal the nemesis did not send')
	  or diag(join("\n", @bad));
}

$_->stop for @nodes;
note(sprintf('durations: setup %.0f s, faults %.0f s, convergence and check %.0f s, total %.0f s',
	$t_faults - $t_start, $t_fault_phase, time() - $t_faults - $t_fault_phase, time() - $t_start));
done_testing();
