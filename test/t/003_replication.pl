# Replication among three real servers whose every link runs through a TCP
# proxy the test can cut: the original's suite (a set is read everywhere; a
# partitioned node catches up; the later write wins) and what it never had
# (catch-up after downtime, concurrent writers, a fast clock, peers changed
# by reload, repair that costs a few bytes once converged, a duplicate id).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $c = mantis_cluster(3, qq{
mantis.sync_interval = '1s'
mantis.peer_timeout = '2s'
mantis.max_keys = 20000
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];
my @all = ($n1, $n2, $n3);

sub get { my ($node, $key) = @_; $node->safe_psql('postgres', qq{SELECT mantis_get('$key')}) }

sub wait_value
{
	my ($node, $key, $value) = @_;
	return $node->poll_query_until('postgres',
		qq{SELECT mantis_get('$key') IS NOT DISTINCT FROM '$value'});
}

for my $i (1 .. 3)
{
	$c->{nodes}[$i]->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected'})
	  or die "n$i did not connect to its peers";
}
pass('every node is connected to the two others');

# --- a set on one node is read on the other two ---------------------------
$n1->safe_psql('postgres', q{SELECT mantis_set('greeting', 'hello from n1')});
ok(wait_value($n2, 'greeting', 'hello from n1'), 'n2 reads the value set on n1');
ok(wait_value($n3, 'greeting', 'hello from n1'), 'n3 reads the value set on n1');
$n3->safe_psql('postgres', q{SELECT mantis_delete('greeting')});
ok($n1->poll_query_until('postgres', q{SELECT mantis_get('greeting') IS NULL}),
	'a delete on n3 reaches n1');
ok(wait_converged(@all), 'all three hold identical registers, deletion marker included');

# --- a partitioned node misses a set, and gets it once healed -------------
isolate($c, 3);
$n1->safe_psql('postgres', q{SELECT mantis_set('during.partition', 'v1')});
ok(wait_value($n2, 'during.partition', 'v1'), 'n2, on the same side, gets the set');
sleep 2;
is(get($n3, 'during.partition'), '', 'n3, cut off, does not see it');
rejoin($c, 3);
ok(wait_value($n3, 'during.partition', 'v1'), 'n3 sees it once the partition heals');

# --- a register from the past is discarded --------------------------------
isolate($c, 1);
isolate($c, 2);
$n2->safe_psql('postgres', q{SELECT mantis_set('race', 'first')});
usleep(20_000);
$n1->safe_psql('postgres', q{SELECT mantis_set('race', 'second')});
rejoin($c, 1);
rejoin($c, 2);
ok(wait_converged(@all), 'after healing the three converge');
is(get($_, 'race'), 'second', 'the later write wins on ' . $_->name) for @all;

# --- a node stopped while the others write 5,000 keys catches up ----------
$n3->stop('fast');
$n1->safe_psql('postgres',
	q{SELECT count(mantis_set('down.' || i, 'v' || i)) FROM generate_series(1, 2500) i});
$n2->safe_psql('postgres',
	q{SELECT count(mantis_set('down.' || i, 'w' || i)) FROM generate_series(2501, 5000) i});
$n3->start;
ok($n3->poll_query_until('postgres',
	q{SELECT count(*) = 5000 FROM mantis_registers() WHERE key LIKE 'down.%'}),
	'n3 catches up on the 5,000 keys written while it was down');
ok(wait_converged(@all), 'and holds exactly what the others hold');

# --- three writers on the same 100 keys for 10 s converge ------------------
$_->safe_psql('postgres', 'CREATE TABLE acks (key text, value text, hlc text)') for @all;
my @writers;
for my $i (1 .. 3)
{
	my $bg = $c->{nodes}[$i]->background_psql('postgres');
	$bg->query_until(qr/started/, qq{
SET mantis.transactional = off;  -- each write applies at once, with its HLC
\\echo started
DO \$\$
DECLARE
  t0 timestamptz := clock_timestamp();
  n int := 0;
  k text;
  v text;
BEGIN
  WHILE clock_timestamp() < t0 + interval '10 seconds' LOOP
    n := n + 1;
    k := 'hot.' || (random() * 99)::int;
    v := 'n$i.' || n;
    INSERT INTO acks VALUES (k, v, mantis_set(k, v));
    IF n % 20 = 0 THEN PERFORM pg_sleep(0.001); END IF;
  END LOOP;
END \$\$;
});
	push @writers, $bg;
}
$_->query_safe('SELECT 1') for @writers;    # waits for the DO blocks to end
$_->quit for @writers;
ok(wait_converged(@all), '3 concurrent writers on 100 keys converge to identical registers');
my (%final, %final_value);
for my $line (split /\n/, $n1->safe_psql('postgres',
	q{SELECT key || '|' || hlc || '|' || value FROM mantis_registers() WHERE key LIKE 'hot.%'}))
{
	my ($k, $h, $v) = split /\|/, $line;
	($final{$k}, $final_value{$k}) = ($h, $v);
}
my ($acks, $lost, $wrong) = (0, 0, 0);
for my $node (@all)
{
	for my $line (split /\n/, $node->safe_psql('postgres', q{SELECT key || '|' || value || '|' || hlc FROM acks}))
	{
		my ($k, $v, $h) = split /\|/, $line;
		$acks++;
		if (!defined $final{$k} || $final{$k} lt $h) { $lost++ }
		elsif ($final{$k} eq $h && $final_value{$k} ne $v) { $wrong++ }
	}
}
cmp_ok($acks, '>', 3000, "the writers made $acks acknowledged writes");
is($lost, 0, 'every acknowledged write is the final value or beaten by a greater HLC');
is($wrong, 0, 'a final register with an acknowledged HLC holds that write\'s value');

# --- a node whose clock runs 10 s ahead ------------------------------------
# mantis.debug_clock_offset, a superuser-only test setting, shifts the wall
# clock mantis reads on n3 only
sub set_skew
{
	my ($node, $ms) = @_;
	$node->safe_psql('postgres',
		qq{ALTER SYSTEM SET mantis.debug_clock_offset = $ms; SELECT pg_reload_conf()});
}
set_skew($n3, 10000);
ok($n1->poll_query_until('postgres',
	q{SELECT clock_offset_ms::int > 9000 FROM mantis_peers WHERE node_name = 'n3'}),
	'n1 measures n3\'s clock about 10 s ahead');
$n3->safe_psql('postgres', q{SELECT mantis_set('skewed', 'from the future')});
ok($n1->poll_query_until('postgres',
	q{SELECT rejected_skewed::int > 0 FROM mantis_peers WHERE node_name = 'n3'}),
	'n1 rejects and counts n3\'s register from 10 s ahead');
ok($n2->poll_query_until('postgres',
	q{SELECT rejected_skewed::int > 0 FROM mantis_peers WHERE node_name = 'n3'}),
	'so does n2');
is(get($n1, 'skewed'), '', 'the far-future register did not enter n1');
like(peer_row($n1, 'n3')->{last_error} // '', qr/clocks up to \d+ ms ahead/,
	'mantis_peers says why');
# n3's clock comes back in bound; its register from the future becomes
# acceptable once real time reaches it, and the cluster converges
set_skew($n3, 0);
ok(wait_value($n1, 'skewed', 'from the future'),
	'once n3 is back in bound, its register reaches n1');
ok(wait_converged(@all), 'and the cluster converges');
cmp_ok(abs(peer_row($n1, 'n3')->{clock_offset_ms}), '<', 1000,
	'n1 measures n3\'s clock within a second again');

# --- repair falls back to digests only once converged ----------------------
ok(wait_converged(@all), 'converged before measuring repair traffic');
sub traffic
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT sum(bytes_in::bigint + bytes_out::bigint) FROM mantis_peers});
}
# per peer and second, both ways: greetings (about 70 bytes each, with
# their acknowledgements), a repair round of two digest-only frames, and an
# empty live batch that keeps the watermark up (about 50 bytes): some 600.
# What the skew above left to settle (a round still moving registers, the
# collection of a bounced marker) may take a round or two on a slow
# machine, so the traffic is sampled over 4 s windows until one is at the
# idle level, for a minute at most: the check is that it falls back to
# digests only, not how soon.
my ($per_second, $windows) = (undef, 0);
my $settle_until = time() + 60;
while (1)
{
	my $b0 = traffic($n1);
	my $t0 = time();
	sleep 4;
	$per_second = (traffic($n1) - $b0) / (time() - $t0);
	$windows++;
	last if $per_second < 1600 || time() > $settle_until;
}
note(sprintf('converged: n1 moves %.0f bytes/s with its 2 peers (greetings, digests, empty batches), window %d',
	$per_second, $windows));
cmp_ok($per_second, '<', 1600,
	'idle and converged, a node falls back to under 1.6 kB/s with two peers (digest-only repair)');
isolate($c, 3);
$n1->safe_psql('postgres',
	q{SELECT count(mantis_set('repair.' || i, repeat('x', 100))) FROM generate_series(1, 2000) i});
is(get($n3, 'repair.2000'), '', 'cut off, n3 has none of the 2,000 keys');
my $r0 = traffic($n3);
rejoin($c, 3);
ok(wait_value($n3, 'repair.2000', 'x' x 100), 'n3 repairs 2,000 missed keys');
ok($n3->poll_query_until('postgres',
	qq{SELECT sum(bytes_in::bigint + bytes_out::bigint) - $r0 > 200000 FROM mantis_peers}),
	'and that repair moved the registers, not just digests');

# --- peers added and removed by ALTER SYSTEM + reload ----------------------
my $zmq4 = PostgreSQL::Test::Cluster::get_free_port();
my $n4 = mantis_node('n4', qq{
mantis.listen = 'tcp://127.0.0.1:$zmq4'
mantis.sync_interval = '1s'
mantis.peer_timeout = '2s'
});
my $n1_peers = $n1->safe_psql('postgres', 'SHOW mantis.peers');
$n1->safe_psql('postgres',
	qq{ALTER SYSTEM SET mantis.peers = '$n1_peers,tcp://127.0.0.1:$zmq4'; SELECT pg_reload_conf()});
ok($n1->poll_query_until('postgres',
	q{SELECT state = 'connected' FROM mantis_peers WHERE node_name = 'n4'}),
	'a peer added by reload connects');
$n1->safe_psql('postgres', q{SELECT mantis_set('to.n4', 'added')});
ok(wait_value($n4, 'to.n4', 'added'), 'and receives sets');
$n1->safe_psql('postgres',
	qq{ALTER SYSTEM SET mantis.peers = '$n1_peers'; SELECT pg_reload_conf()});
ok($n1->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM mantis_peers WHERE node_name = 'n4' AND direction = 'outbound'}),
	'a peer removed by reload is gone from mantis_peers');
$n1->safe_psql('postgres', q{SELECT mantis_set('to.n4', 'removed')});
sleep 2;
is(get($n4, 'to.n4'), 'added', 'and receives nothing more');
ok($n1->log_contains("peer tcp://127.0.0.1:$zmq4 removed"), 'the removal is logged');

# --- a second node with n1's name is refused ------------------------------
my $zmq5 = PostgreSQL::Test::Cluster::get_free_port();
my $impostor = mantis_node('impostor', qq{
mantis.node_name = 'n1'
mantis.listen = 'tcp://127.0.0.1:$zmq5'
mantis.peers = 'tcp://127.0.0.1:$c->{zmq}[1]'
});
$impostor->safe_psql('postgres', q{SELECT mantis_set('impostor', 'yes')});
ok(wait_for_log($n1, qr/it has the same node id as this server/),
	'n1 refuses a second node with its id, with a clear log line');
sleep 1;
is(get($n1, 'impostor'), '', 'and takes none of its registers');
$impostor->stop;
$n4->stop;

sub wait_for_log
{
	my ($node, $re) = @_;
	for (1 .. 100)
	{
		return 1 if slurp_file($node->logfile) =~ $re;
		usleep(100_000);
	}
	return 0;
}

# --- no crash anywhere ----------------------------------------------------
for my $node (@all)
{
	my $log = slurp_file($node->logfile);
	unlike($log, qr/PANIC|terminated by signal/, $node->name . ' logged no crash');
}
$_->stop for @all;
done_testing();
