# An adoption is durable before it is visible (issue 18): a register a
# server adopts away (a peer collected its key's deletion) must never be
# read again on that server once it has stopped being read, crash restart
# included.  The rows of mantis_stores hold the value until a compaction
# rewrites them, so a server that hid the value at once, and crashed before
# that compaction committed, would load it back, and show it until a later
# round adopts it again: with a member down, never.
#
# n3 is cut off and taken out of mantis.peers; n1 deletes k, and n1 and n2
# collect the marker.  n3 comes back still holding k's old value (flushed),
# with its flushes failing (mantis.debug_fail_flush): it adopts k away, but
# no compaction can commit.  n2 goes down (so no round can adopt k again)
# and n3 is killed (kill -9) and started again.  Then the same with the
# flushes working: once n3 stops reading k, a crash restart does not bring
# it back, and the refusal horizon its adoption raised survives it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $t_start = time();
# Repair rounds only when a link (re)connects: no round sends the marker
# back to a server that has collected it already.
my $c = mantis_cluster(3, qq{
mantis.sync_interval = '1h'
mantis.peer_timeout = '1s'
mantis.flush_interval = '100ms'
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];
my @all = ($n1, $n2, $n3);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub value { my ($n, $key) = @_; return sql($n, qq{SELECT coalesce(mantis_get('$key'), '<deleted>')}) }

# n3 adopted the key away: it stopped reading it (hidden at once), or says
# in mantis_status that an adoption waits for a compaction
sub wait_adopted
{
	my ($key) = @_;
	return $n3->poll_query_until('postgres',
		qq{SELECT mantis_get('$key') IS NULL OR collection LIKE '%adopted away wait for a compaction%'
		     FROM mantis_status});
}



# Once n3 has stopped reading k, it must never read it again.
my $k_gone = 0;
sub check_k
{
	my ($what) = @_;
	my $v = value($n3, 'k');
	if ($k_gone)
	{
		is($v, '<deleted>', "n3 reads k deleted again $what: its adoption was not undone");
	}
	else
	{
		$k_gone = $v eq '<deleted>';
		note("n3 reads k = $v $what");
	}
	return $v;
}

# n3 away and unlisted; n1 deletes the key, n1 and n2 collect its marker
sub delete_while_away
{
	my ($key) = @_;
	sql($n1, qq{SELECT mantis_set('$key', 'old')});
	ok($_->poll_query_until('postgres', qq{SELECT mantis_get('$key') = 'old'}), $_->name . " reads $key = old")
	  for ($n2, $n3);
	sql($_, q{SELECT mantis_flush()}) for @all;
	isolate($c, 3);
	for my $i (1, 2)
	{
		my ($n, $j) = ($c->{nodes}[$i], 3 - $i);
		$n->poll_query_until('postgres', q{SELECT state = 'down' FROM mantis_peers WHERE node_name = 'n3'})
		  or die $n->name . ' never counted n3 down';
		sql($n, qq{ALTER SYSTEM SET mantis.peers = 'tcp://127.0.0.1:$c->{proxy}{"$i>$j"}[0]';
			ALTER SYSTEM SET mantis.sync_interval = '1h'; SELECT pg_reload_conf()});
		$n->poll_query_until('postgres', q{SELECT count(*) = 0 FROM mantis_peers WHERE node_name = 'n3'})
		  or die $n->name . ' still lists n3';
	}
	sql($n1, qq{SELECT mantis_delete('$key')});
	ok($n2->poll_query_until('postgres', qq{SELECT mantis_get('$key') IS NULL}), "the deletion of $key reaches n2");
	my $held = qq{SELECT EXISTS (SELECT FROM mantis_registers('$key', true) WHERE key = '$key')};
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	usleep(100_000) while grep({ sql($_, $held) eq 't' } $n1, $n2) && time() < $deadline;
	ok(!grep({ sql($_, $held) eq 't' } $n1, $n2), "n1 and n2 collect the marker of $key");
	is(value($n3, $key), 'old', "n3, cut off, still reads $key = old");
}

# n3 listed again and connected; periodic rounds, so that n3 catches up with
# both and adopts
sub bring_back
{
	for my $n ($n1, $n2)
	{
		sql($n, q{ALTER SYSTEM RESET mantis.peers; SELECT pg_reload_conf()});
	}
	sql($_, q{ALTER SYSTEM SET mantis.sync_interval = '300ms'; SELECT pg_reload_conf()}) for @all;
	rejoin($c, 3);
	wait_peers_connected(2, @all);
}

wait_peers_connected(2, @all);
# a key every server keeps: a compaction has a register to write, and fails
sql($n1, q{SELECT mantis_set('kept', 'v')});
ok($_->poll_query_until('postgres', q{SELECT mantis_get('kept') = 'v'}), $_->name . ' reads kept') for @all;

# --- 1. the adoption cannot be made durable, and n3 crashes -----------------
delete_while_away('k');
sql($n3, q{ALTER SYSTEM SET mantis.debug_fail_flush = on; SELECT pg_reload_conf()});
bring_back();
ok(wait_adopted('k'), 'n3 adopts k away (a peer collected its deletion)');
ok($n3->poll_query_until('postgres', q{SELECT flush_failures > 0 FROM mantis_status}),
	'n3 cannot flush: no compaction drops k from its rows');
check_k('after its adoption');
is(value($n3, 'k'), 'old', 'n3 still reads k: the adoption is not durable, so not visible either');

# n2 down: n3, once restarted, is not caught up with every member, and adopts nothing
$n2->stop;
$n3->poll_query_until('postgres', q{SELECT state = 'down' FROM mantis_peers WHERE node_name = 'n2'})
  or die 'n3 never counted n2 down';
check_k('with n2 down');
kill_and_start($n3);
wait_loaded($n3);
check_k('after a crash restart with its flushes failing');
$n3->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mantis_peers WHERE state = 'connected'})
  or die 'n3 did not connect to n1';
check_k('connected to n1 again, n2 still down');

# --- 2. the same, and the compaction commits --------------------------------
$n2->start;
wait_loaded($n2);
wait_peers_connected(2, @all);
sql($n3, q{ALTER SYSTEM RESET mantis.debug_fail_flush; SELECT pg_reload_conf()});
ok($n3->poll_query_until('postgres', q{SELECT mantis_get('k') IS NULL}),
	'n3 stops reading k (a round gives it up, or n2 restarted sends its marker back from its rows)');
check_k('once its compaction committed');
ok($_->poll_query_until('postgres', q{SELECT mantis_get('k') IS NULL}), $_->name . ' reads k deleted')
  for ($n1, $n2);

delete_while_away('k2');
sql($n3, q{ALTER SYSTEM SET mantis.debug_fail_flush = on; SELECT pg_reload_conf()});
bring_back();
ok(wait_adopted('k2'), 'n3 adopts k2 away');
is(value($n3, 'k2'), 'old', 'n3 still reads k2 while its flushes fail');
my $horizon_before = sql($n3, q{SELECT refusal_horizon FROM mantis_status});
sql($n3, q{ALTER SYSTEM RESET mantis.debug_fail_flush; SELECT pg_reload_conf()});
ok($n3->poll_query_until('postgres', q{SELECT mantis_get('k2') IS NULL}),
	'n3 stops reading k2 once its compaction committed');
my $horizon = sql($n3, q{SELECT refusal_horizon FROM mantis_status});
ok(sql($n3, qq{SELECT refusal_horizon > coalesce(nullif('$horizon_before', '')::timestamptz, '-infinity')
	FROM mantis_status}) eq 't',
	"the adoption raised n3's refusal horizon ($horizon_before -> $horizon)");
$n2->stop;
kill_and_start($n3);
wait_loaded($n3);
is(value($n3, 'k2'), '<deleted>', 'after a crash restart n3 still reads k2 deleted: its rows no longer hold it');
check_k('after a second crash restart');
ok(sql($n3, qq{SELECT refusal_horizon >= '$horizon'::timestamptz FROM mantis_status}) eq 't',
	'the refusal horizon the adoption raised survives the crash (the compaction wrote it)');
$n2->start;
wait_loaded($n2);
wait_peers_connected(2, @all);
ok(wait_converged(@all), 'the three converge');
is(value($_, 'k'), '<deleted>', $_->name . ' reads k deleted') for @all;
is(value($_, 'k2'), '<deleted>', $_->name . ' reads k2 deleted') for @all;
is(sql($n3, q{SELECT collection LIKE '%adopted away%' FROM mantis_status}), 'f',
	'n3 has no adoption waiting for a compaction');

for my $n (@all)
{
	unlike(slurp_file($n->logfile), qr/PANIC|terminated by signal/, $n->name . ' logged no crash');
}
$_->stop for @all;
note(sprintf('total %.0f s', time() - $t_start));
done_testing();
