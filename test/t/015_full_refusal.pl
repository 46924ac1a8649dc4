# A committed, flushed write that a full peer refused is never lost (issue
# 18, case 1).  n1's store is full (mantis.max_keys), so it refuses n2's new
# key k; n3, listed by both, is away, so n1 collects deletion markers by
# mantis.tombstone_lifetime alone.  A register refused for lack of room is a
# hole: n1 must not let its refusal horizon pass it, or n2, adopting away
# what n1 holds nothing of at or below that horizon, drops k, and the write
# is gone from every server.  With n3 back and n1 given room, all three
# servers hold k.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use MantisTest;

my $t_start = time();
my $lifetime = 2;    # seconds: mantis.tombstone_lifetime
my $c = mantis_cluster(3, qq{
mantis.sync_interval = '500ms'
mantis.peer_timeout = '1s'
mantis.flush_interval = '100ms'
mantis.tombstone_lifetime = '${lifetime}s'
}, node_conf => { 1 => "mantis.max_keys = 16\n" });
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

# the HLC of a key's register (deletion markers too), '' when none is held
sub hlc_of
{
	my ($n, $key) = @_;
	return sql($n, qq{SELECT hlc FROM mantis_registers('$key', true) WHERE key = '$key'});
}

# the wall-clock part of an HLC, as a timestamptz literal
sub hlc_time { my ($hlc) = @_; return substr($hlc, 0, 24) }

# wait until node n counts its outbound peer "name" in the given state
sub wait_state
{
	my ($n, $name, $state) = @_;
	$n->poll_query_until('postgres',
		qq{SELECT state = '$state' FROM mantis_peers WHERE node_name = '$name' AND direction = 'outbound'})
	  or die $n->name . " never counted $name $state";
}

# wait until node n's peer "name" says it holds n's writes past an HLC: it
# completed a repair round with n whose answer was taken after that write
sub wait_acknowledged
{
	my ($n, $name, $hlc) = @_;
	my $t = hlc_time($hlc);
	return $n->poll_query_until('postgres',
		qq{SELECT coalesce(max(acknowledged) > '$t'::timestamptz, false) FROM mantis_peers WHERE node_name = '$name'});
}

for my $n ($n1, $n2, $n3)
{
	$n->poll_query_until('postgres', q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected'})
	  or die $n->name . ' did not connect to its peers';
}
pass('every node is connected to the two others');

# --- n3 goes away; n1 fills up ----------------------------------------------
$n3->stop('fast');
sql($n1, q{SELECT count(mantis_set(format('fill.%s', lpad(i::text, 2, '0')), 'v')) FROM generate_series(1, 16) i});
my (undef, undef, $err) = $n1->psql('postgres', q{\set VERBOSITY verbose
SELECT mantis_set('one.more', 'x')});
like($err, qr/53200: mantis store is full/, 'n1 is full: a 17th key is refused (53200)');
ok($n2->poll_query_until('postgres', q{SELECT count(*) = 16 FROM mantis_registers('fill.')}),
	'n2 holds the 16 keys of n1');

# --- n2 commits and flushes k; n1 has no room for it -------------------------
sql($n2, q{SELECT mantis_set('k', 'committed')});
sql($n2, q{SELECT mantis_flush()});
my $k_hlc = hlc_of($n2, 'k');
isnt($k_hlc, '', "k is committed and flushed on n2 ($k_hlc)");
ok($n1->poll_query_until('postgres',
	q{SELECT coalesce(sum(rejected_no_room), 0) > 0 FROM mantis_peers WHERE node_name = 'n2'}),
	'n1 refuses k for lack of room (rejected_no_room)');
is(sql($n1, q{SELECT mantis_get('k') IS NULL}), 't', 'n1 does not hold k');

# --- n1 collects something later than k by lifetime alone --------------------
# (n3 is away: nothing is collected by acknowledgement)
$n1->poll_query_until('postgres', qq{SELECT clock_timestamp() > '@{[hlc_time($k_hlc)]}'::timestamptz + interval '1 ms'})
  or die "n1's clock never passed k";
sql($n1, q{SELECT mantis_delete('fill.01')});
my $d_hlc = hlc_of($n1, 'fill.01');
cmp_ok($d_hlc, 'gt', $k_hlc, 'n1 deletes fill.01 after k: its marker is later than k');
ok($n2->poll_query_until('postgres', q{SELECT mantis_get('fill.01') IS NULL}), 'the deletion reaches n2');

# A sweep of n1 that has seen fill.02 expired ran after the deletion's
# lifetime was over (with a second to spare for the bound the replication
# worker publishes each second): then the marker of fill.01 was collected
# by lifetime, if n1 collects it at all.  (fill.02 no longer held means it
# was collected, later still.)
sql($n1, qq{SELECT mantis_expire('fill.02', interval '@{[$lifetime + 2]} s')});
ok($n1->poll_query_until('postgres',
	q{SELECT expired_keys >= 1 OR NOT EXISTS (SELECT FROM mantis_registers('fill.02', true) WHERE key = 'fill.02')
	    FROM mantis_status}),
	"a sweep of n1 ran past fill.01's lifetime");
# (the horizons as mantis_status names them, whatever its version)
note('n1: ' . sql($n1, q{SELECT jsonb_object_agg(key, value) FROM mantis_status s, jsonb_each(to_jsonb(s))
	WHERE key ~ 'horizon|^collection'}) . ', fill.01 '
	. sql($n1, q{SELECT coalesce((SELECT 'held' FROM mantis_registers('fill.01', true) WHERE key = 'fill.01'), 'collected')}));

# --- a repair round of n1 with n2, then one of n2 with n1 ---------------------
# Both links are cut until each side counts the other down, so that the live
# streams miss a write on each side (p on n1, q on n2, both overwriting keys
# n1 holds: they need no room); each link is then healed alone, and its
# reconnection starts a round with the peer's horizons as they are now.  A
# peer acknowledges the other's write only through a completed round - but
# n1 acknowledges nothing of n2 past the key it refused (the rule R5): that
# q reached n1 shows its round's answer came.
cut_link($c, 1, 2);
cut_link($c, 2, 1);
wait_state($n1, 'n2', 'down');
wait_state($n2, 'n1', 'down');
sql($n1, q{SELECT mantis_set('fill.03', 'p')});
sql($n2, q{SELECT mantis_set('fill.04', 'q')});
my ($p_hlc, $q_hlc) = (hlc_of($n1, 'fill.03'), hlc_of($n2, 'fill.04'));
heal_link($c, 1, 2);
ok($n1->poll_query_until('postgres', q{SELECT mantis_get('fill.04') = 'q'}),
	'n1 has the answer of its repair round with n2 (n1 holds q)');
heal_link($c, 2, 1);
ok(wait_acknowledged($n1, 'n2', $p_hlc), 'n2 completes a repair round with n1 (n2 holds p)');
is(sql($n2, q{SELECT mantis_get('fill.03')}), 'p', 'n2 reads p');

is(sql($n2, q{SELECT coalesce(mantis_get('k'), '<none>')}), 'committed',
	'n2 still holds its committed, flushed k after its round with the full n1')
  or diag('n2 log: ' . join(' | ', grep { /gives up/ } split /\n/, slurp_file($n2->logfile)));

# --- n1 gets room, n3 comes back: k everywhere --------------------------------
$n1->append_conf('postgresql.conf', "mantis.max_keys = 1000\n");
$n1->restart;
$n3->start;
for my $n ($n1, $n3)
{
	$n->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
	  or die $n->name . ' did not load its store';
}
for my $n ($n1, $n2, $n3)
{
	$n->poll_query_until('postgres', q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected'})
	  or die $n->name . ' did not connect to its peers';
}
ok(wait_converged($n1, $n2, $n3), 'the three converge');
for my $n ($n1, $n2, $n3)
{
	is(sql($n, q{SELECT coalesce(mantis_get('k'), '<none>')}), 'committed', $n->name . ' reads k');
	is(sql($n, q{SELECT mantis_get('fill.01') IS NULL}), 't', $n->name . ' reads fill.01 deleted');
	is(sql($n, q{SELECT string_agg(value, ' ' ORDER BY key) FROM mantis_registers('fill.')}),
		'p q' . ' v' x 12, $n->name . ' reads every other key of n1: p, q and 12 v (fill.02 expired)');
}

for my $n ($n1, $n2, $n3)
{
	unlike(slurp_file($n->logfile), qr/PANIC|terminated by signal/, $n->name . ' logged no crash');
}
$_->stop for ($n1, $n2, $n3);
note(sprintf('total %.0f s', time() - $t_start));
done_testing();
