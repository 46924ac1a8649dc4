# An adoption that no compaction can make durable asks for none (issue 18,
# review): while rows of mantis_stores are held back, a compaction covers
# no register adopted away (the held row stays, and may hold it), so every
# repair round that adopts the register again must not ask for another
# full rewrite of the rows - that would be a compaction per round, each
# locking every bucket exclusively, for as long as the rows stay held.
# Once nothing is held back, a round asks again and the adoption is made
# durable.
#
# n3 is cut off and taken out of mantis.peers; n1 deletes k and sixteen
# keys f1..f16 written after it, and n1 and n2 collect the markers.  n3
# restarts with mantis.max_keys = 16: its rows hold one of the f keys back
# (no room).  Back among the others, it adopts k away (it lies below what
# is held back), but no compaction may cover it: its rows must then stay
# as they are, round after round.  Restarted with room for all, it gives
# them all up.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $t_start = time();
my $c = mantis_cluster(3, qq{
mantis.sync_interval = '1h'
mantis.peer_timeout = '1s'
mantis.flush_interval = '100ms'
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];
my @all = ($n1, $n2, $n3);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }



# registers n1 refused from n3 as copies of collected ones: each repair
# round between them adds at most the registers n3 adopted away (the only
# ones it holds that n1 lacks)
sub refused_from_n3
{
	return sql($n1, q{SELECT coalesce(sum(rejected_collected), 0) FROM mantis_peers WHERE node_name = 'n3'});
}

sub adopted_on_n3
{
	return sql($n3, q{SELECT substring(collection from '(\d+) registers adopted away') FROM mantis_status});
}

sub wait_rounds
{
	my ($rounds) = @_;
	my $target = refused_from_n3() + adopted_on_n3() * $rounds;
	return $n1->poll_query_until('postgres',
		qq{SELECT coalesce(sum(rejected_collected), 0) >= $target FROM mantis_peers WHERE node_name = 'n3'});
}

sub rows_max_id { return sql($n3, q{SELECT coalesce(max(id), 0) FROM mantis_stores}) }

wait_peers_connected(2, @all);
# k first, in a row of its own: what n3 adopts lies below what it holds back
my $fkeys = q{SELECT 'f' || i FROM generate_series(1, 16) i};
sql($n1, q{SELECT mantis_set('k', 'old')});
$n3->poll_query_until('postgres', q{SELECT mantis_get('k') = 'old'}) or die 'k did not reach n3';
sql($n3, q{SELECT mantis_flush()});
sql($n1, qq{SELECT mantis_set(k, 'v') FROM ($fkeys) f(k)});
ok($_->poll_query_until('postgres',
		qq{SELECT mantis_get('k') = 'old' AND (SELECT count(*) FROM ($fkeys) f(k) WHERE mantis_get(k) = 'v') = 16}),
	$_->name . ' reads k and the f keys') for @all;
sql($_, q{SELECT mantis_flush()}) for @all;

isolate($c, 3);
for my $i (1, 2)
{
	my ($n, $j) = ($c->{nodes}[$i], 3 - $i);
	$n->poll_query_until('postgres', q{SELECT state = 'down' FROM mantis_peers WHERE node_name = 'n3'})
	  or die $n->name . ' never counted n3 down';
	sql($n, qq{ALTER SYSTEM SET mantis.peers = 'tcp://127.0.0.1:$c->{proxy}{"$i>$j"}[0]'; SELECT pg_reload_conf()});
	$n->poll_query_until('postgres', q{SELECT count(*) = 0 FROM mantis_peers WHERE node_name = 'n3'})
	  or die $n->name . ' still lists n3';
}
sql($n1, qq{SELECT mantis_delete('k'); SELECT mantis_delete(k) FROM ($fkeys) f(k)});
my $held = q{SELECT EXISTS (SELECT FROM mantis_registers('', true) WHERE key = 'k' OR key LIKE 'f%')};
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
usleep(100_000) while grep({ sql($_, $held) eq 't' } $n1, $n2) && time() < $deadline;
ok(!grep({ sql($_, $held) eq 't' } $n1, $n2), 'n1 and n2 collect the markers');

# n3, still cut off, restarts with room for 16 keys: its rows hold one back
$n3->append_conf('postgresql.conf', "mantis.max_keys = 16\n");
$n3->restart;
wait_loaded($n3);
ok(sql($n3, q{SELECT held_back > 0 FROM mantis_status}) eq 't', 'n3 holds a register of its rows back');
is(sql($n3, q{SELECT mantis_get('k')}), 'old', 'n3 still reads k');

# back among the others, with rounds every 300 ms
sql($_, q{ALTER SYSTEM RESET mantis.peers; SELECT pg_reload_conf()}) for ($n1, $n2);
sql($_, q{ALTER SYSTEM SET mantis.sync_interval = '300ms'; SELECT pg_reload_conf()}) for @all;
rejoin($c, 3);
wait_peers_connected(2, @all);
ok($n3->poll_query_until('postgres',
		q{SELECT collection LIKE '%adopted away wait for a compaction%' FROM mantis_status}),
	'n3 adopts k away');
note('n3 adopted ' . adopted_on_n3() . ' registers away');
ok(wait_rounds(3), 'n3 offers k to n1 in repair rounds, which n1 refuses');
my $before = rows_max_id();
ok(wait_rounds(6), 'at least six more rounds');
is(rows_max_id(), $before, 'no compaction rewrote the rows of n3 meanwhile: none could cover k');
is(sql($n3, q{SELECT mantis_get('k')}), 'old', 'n3 still reads k: its rows still hold it');

# room for all: nothing is held back, and every one goes
$n3->adjust_conf('postgresql.conf', 'mantis.max_keys', undef);
$n3->restart;
wait_loaded($n3);
wait_peers_connected(2, @all);
ok($n3->poll_query_until('postgres', $held =~ s/EXISTS/NOT EXISTS/r),
	'n3 gives up k and the f keys once no row holds anything back');
ok($n3->poll_query_until('postgres',
		q{SELECT collection NOT LIKE '%adopted away%' AND held_back = 0 FROM mantis_status}),
	'n3 has no adoption waiting');

for my $n (@all)
{
	unlike(slurp_file($n->logfile), qr/PANIC|terminated by signal/, $n->name . ' logged no crash');
}
$_->stop for @all;
note(sprintf('total %.0f s', time() - $t_start));
done_testing();
