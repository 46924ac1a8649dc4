# TRUNCATE mantis_stores on a server that holds rows back must lose nothing
# (an operator's review; the README's table of what each event loses says
# "nothing" for TRUNCATE).  n1 and n2 hold keys a1..a40 (written on n1,
# flushed on both); a deletion collected by acknowledgement raises the
# refusal horizon of both past them.  n1 restarts with a smaller
# mantis.max_keys, so most of its registers are held back in its rows; the
# operator truncates mantis_stores there, and the next flush writes only
# what memory holds: the held-back registers are in no row of n1 any more,
# nor in its memory, while its refusal horizon, still past them, is
# written with the new rows and announced.  With mantis.max_keys raised
# again, n1 must get the keys back from n2.  Instead (at fc19002), as soon
# as the TRUNCATE is noticed (held_back drops to 0) and before the limit is
# raised, n1 refuses them as copies of collected registers, and n2, pulling
# from n1, adopts them away ("gives up N registers that peer n1 has collected the
# deletion of"): committed writes are gone from every server.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $c = mantis_cluster(2, qq{
mantis.sync_interval = '500ms'
mantis.peer_timeout = '2s'
mantis.flush_interval = '100ms'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];
my @all = ($n1, $n2);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub status { my ($n, $col) = @_; return sql($n, "SELECT $col FROM mantis_status") }

sub a_count
{
	my ($n) = @_;
	return sql($n, q{SELECT count(*) FROM mantis_registers('a', false) WHERE key ~ '^a[0-9]+$'});
}


wait_loaded($_) for @all;
wait_peers_connected(1, @all);

# --- a1..a40 on both servers, flushed ----------------------------------------
sql($n1, q{SELECT count(mantis_set('a' || g, 'value ' || g)) FROM generate_series(1, 40) g});
for my $n (@all)
{
	ok($n->poll_query_until('postgres',
		q{SELECT count(*) = 40 FROM mantis_registers('a', false) WHERE key ~ '^a[0-9]+$'}),
		$n->name . ' holds a1..a40');
	sql($n, q{SELECT mantis_flush()});
}
my $a_hlc = sql($n1, q{SELECT max((split_part(hlc, 'Z', 1) || 'Z')::timestamptz) FROM mantis_registers('a', false)});

# --- a deletion collected by acknowledgement: the refusal horizons pass them --
sql($n1, q{SELECT mantis_set('d', 'x')});
$n2->poll_query_until('postgres', q{SELECT mantis_get('d') = 'x'}) or die 'd did not reach n2';
sql($n1, q{SELECT mantis_delete('d')});
for my $n (@all)
{
	ok($n->poll_query_until('postgres',
		q{SELECT refusal_horizon IS NOT NULL AND deleted_keys = 0
		    AND NOT EXISTS (SELECT FROM mantis_registers('d', true) WHERE key = 'd') FROM mantis_status}),
		$n->name . ': the marker of d is collected, raising the refusal horizon');
}
# a row written since carries the horizon
sql($n1, q{SELECT mantis_set('e', 'x')});
for my $n (@all)
{
	$n->poll_query_until('postgres', q{SELECT mantis_get('e') = 'x'}) or die 'e did not reach ' . $n->name;
	sql($n, q{SELECT mantis_flush()});
}
note('a1..a40 up to ' . $a_hlc . '; n1: '
	  . sql($n1, q{SELECT refusal_horizon || ' ' || collection FROM mantis_status}));

# --- n1 restarts with a smaller mantis.max_keys: registers held back --------
$n1->append_conf('postgresql.conf', "mantis.max_keys = 16\n");
$n1->restart;
$n1->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
  or die 'n1 did not load its store';
my $held = status($n1, 'held_back');
ok($held > 0, "n1 holds $held registers back in mantis_stores");
ok(sql($n1, qq{SELECT refusal_horizon > '$a_hlc'::timestamptz FROM mantis_status}) eq 't',
	'its refusal horizon, loaded from its rows, is past a1..a40');

# --- the operator truncates mantis_stores on n1 ------------------------------
sql($n1, q{TRUNCATE mantis_stores});
ok($n1->poll_query_until('postgres', q{SELECT count(*) > 0 FROM mantis_stores}),
	'n1 writes its registers into the truncated table');
note('n1 after the TRUNCATE: '
	  . sql($n1, q{SELECT format('held_back %s, keys %s, refusal_horizon %s', held_back, keys, refusal_horizon)
	                 FROM mantis_status}));

# --- mantis.max_keys raised again ---------------------------------------------
$n1->append_conf('postgresql.conf', "mantis.max_keys = 100000\n");
$n1->restart;
wait_loaded($_) for @all;
wait_peers_connected(1, @all);

# repair rounds both ways (every 500 ms): wait until n1 holds the 40 keys
# (then n2 has nothing to give up), or n2 no longer does
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
while (time() < $deadline)
{
	last if a_count($n1) == 40 && a_count($n2) == 40;
	last if a_count($n2) < 40;
	usleep(200_000);
}
is(a_count($n2), '40', 'n2 still holds a1..a40: nothing committed is given up');
is(a_count($n1), '40', 'n1 holds a1..a40 again, from n2');
note('n2 refused_collected ' . status($n2, 'refused_collected') . ', n1 refused_collected '
	  . status($n1, 'refused_collected'));

$_->stop for @all;
done_testing();
