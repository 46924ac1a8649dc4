# A repair answer from a new run of a peer must not be measured against
# what its previous run had collected (005, seed 513866577, at e909bb1:
# 3977 registers adopted away, 3727 acknowledged writes lost).  n1 and n2
# hold a1..a100, flushed; a deletion collected by acknowledgement raises
# both refusal horizons past them.  n2 restarts with a smaller
# mantis.max_keys, so most of them are held back in its rows (holes of
# its new run).  Meanwhile the proxy of n1's connection to n2 holds n2's
# greetings (WELCOME) back, the connection staying up, and n2's own
# connection to n1 is cut, so n1 could learn of the restart from nothing
# but the answers to its rounds.  At f6d3785, n1's rounds reached the new
# run and were answered before n1 read its greeting (at e909bb1 n1 then
# adopted 85 of the 100 keys away by the horizon of the run before, and
# kept 15 even once n2 held all 100 again); f6d3785 ends a round on an
# answer of another run.  Since links heal (d439608), a closed connection
# shows the peer connecting and no round starts before a WELCOME: this
# test checks that no round reaches the new run before its greeting is
# read, and that once it is, n1's rounds with the new run, by its own
# horizon, adopt nothing; n1 keeps every key, and n2 has them all again
# once its limit is raised.  (f6d3785's check still guards a round begun
# while the close is not yet seen; no proxy here keeps a connection open
# across the peer's restart.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $c = mantis_cluster(2, qq{
mantis.sync_interval = '200ms'
mantis.peer_timeout = '60s'
mantis.flush_interval = '100ms'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];
my @all = ($n1, $n2);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub a_count
{
	my ($n) = @_;
	return sql($n, q{SELECT count(*) FROM mantis_registers('a', false) WHERE key ~ '^a[0-9]+$'});
}

# n1's completed repair rounds with n2
sub rounds { return sql($n1, q{SELECT repair_rounds FROM mantis_peers WHERE node_name = 'n2'}) }

sub wait_rounds_past
{
	my ($count, $what) = @_;
	$n1->poll_query_until('postgres',
		qq{SELECT repair_rounds > $count FROM mantis_peers WHERE node_name = 'n2'})
	  or die "n1 completed no repair round with n2 $what";
}

wait_loaded($_) for @all;
wait_peers_connected(1, @all);

# --- a1..a100 on both, flushed; a collected deletion raises both horizons ----
sql($n1, q{SELECT count(mantis_set('a' || g, 'value ' || g)) FROM generate_series(1, 100) g});
sql($n1, q{SELECT mantis_set('d', 'x')});
$n2->poll_query_until('postgres', q{SELECT mantis_get('d') = 'x'}) or die 'd did not reach n2';
sql($n1, q{SELECT mantis_delete('d')});
for my $n (@all)
{
	ok($n->poll_query_until('postgres',
		q{SELECT refusal_horizon IS NOT NULL AND deleted_keys = 0
		    AND NOT EXISTS (SELECT FROM mantis_registers('d', true) WHERE key = 'd') FROM mantis_status}),
		$n->name . ': the marker of d is collected, raising the refusal horizon');
	is(a_count($n), '100', $n->name . ' holds a1..a100');
	sql($n, q{SELECT mantis_flush()});
}
# n1 has heard n2's horizon and completed rounds with it since
my $r = rounds();
wait_rounds_past($r + 1, 'after the collection');
is(sql($n1, q{SELECT adopted FROM mantis_peers WHERE node_name = 'n2'}), '0',
	'n1 has adopted nothing from n2 so far');

# --- n2 restarts with a smaller mantis.max_keys; its greetings are held ------
cut_link($c, 2, 1);
hold_answers($c, 1, 2, 'WELCOME');
$n2->stop;
$n2->append_conf('postgresql.conf', "mantis.max_keys = 16\n");
$n2->start;
$n2->poll_query_until('postgres', q{SELECT persistence = 'ready' AND held_back > 0 FROM mantis_status})
  or die 'n2 did not load its store, holding registers back';
my $port = $c->{proxy}{'1>2'}[0];
my $answers = MantisTest::proxy_log_count($port, qr/^passed (GROUPS|INSYNC)$/);
my $held = MantisTest::proxy_log_count($port, qr/^held WELCOME$/);
# n1 greets the new run (its answers held) again and again, its rounds
# (mantis.sync_interval 200 ms) going nowhere: n1 shows n2 connecting
# since its connection closed, and starts no round before a WELCOME
wait_proxy_log($port, qr/^held WELCOME$/, $held + 3);
is(MantisTest::proxy_log_count($port, qr/^passed (GROUPS|INSYNC)$/), $answers,
	"n1 started no repair round with n2's new run before reading its greeting");
is(sql($n1, q{SELECT state FROM mantis_peers WHERE node_name = 'n2'}), 'connecting',
	'n1 shows n2 connecting meanwhile');
my $released_at = sql($n1, q{SELECT clock_timestamp()});
$r = rounds();
release_answers($c, 1, 2);

# n1 reads the answers; its next completed round is with the new run
$n1->poll_query_until('postgres',
	qq{SELECT repair_rounds > $r AND last_repair > '$released_at' FROM mantis_peers WHERE node_name = 'n2'})
  or die 'n1 completed no repair round with the new run of n2';
is(sql($n1, q{SELECT adopted FROM mantis_peers WHERE node_name = 'n2'}), '0',
	'n1 adopted nothing from the answers of the new run of n2');
is(a_count($n1), '100', 'n1 still holds a1..a100');
sql($n1, q{SELECT mantis_flush()});
is(sql($n1, q{SELECT count(DISTINCT d.key) FROM mantis_stores, mantis_decode(registers) d WHERE d.key ~ '^a[0-9]+$'}),
	'100', "and so do n1's rows, after a flush");

# --- n2's limit raised: it has every key again --------------------------------
heal_link($c, 2, 1);
$n2->append_conf('postgresql.conf', "mantis.max_keys = 100000\n");
$n2->restart;
wait_loaded($n2);
ok($n2->poll_query_until('postgres',
	q{SELECT count(*) = 100 FROM mantis_registers('a', false) WHERE key ~ '^a[0-9]+$'}),
	'with its limit raised, n2 holds a1..a100 again');
is(a_count($n1), '100', 'and n1 still does');

$_->stop for @all;
done_testing();
