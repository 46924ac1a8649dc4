# 080: in a hub (n2 and n3 list only n1), a cursor of a leaf used on the hub.
# n1 does not relay what it merges: n3's write reaches n2 only by a repair
# round with n1.  Meanwhile n2's cursor says it holds every write through
# what it holds of n1's - past n3's write, which n2 lacks.  A follower of
# n2 that fails over to n1 must get n3's write (or MT001), and so must one
# that stays on n2 across its restart (the round on reconnecting brings
# the write, below that HLC).  (A leaf's cursor now says 0: past it means
# past 0.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use MantisTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();

my $c = mantis_cluster(3, qq{
mantis.sync_interval = '1h'
mantis.flush_interval = '100ms'
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];
sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }
for my $n ($n1, $n2, $n3)
{
	$n->poll_query_until('postgres', q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected'}) or die;
}
# a full mesh first: each answers the others' cursors by a scan
sql($n2, q{SELECT mantis_set('mesh.n2', 'm')});
$n1->poll_query_until('postgres', q{SELECT mantis_get('mesh.n2') = 'm'}) or die;
ok($n2->poll_query_until('postgres', q{SELECT right(mantis_cursor(), 16) <> '0000000000000000'}),
	'full mesh: a cursor of n2 vouches for an HLC');
my $mesh_cursor = sql($n2, q{SELECT mantis_cursor()});
ok($n1->poll_query_until('postgres', qq{SELECT count(*) >= 0 FROM mantis_changes('$mesh_cursor')}),
	'full mesh: the cursor of n2 is answered on n1');
cut_link($c, 2, 3);
cut_link($c, 3, 2);
for my $i (2, 3)
{
	my $n = $c->{nodes}[$i];
	sql($n, qq{ALTER SYSTEM SET mantis.peers = 'tcp://127.0.0.1:$c->{proxy}{"$i>1"}[0]'; SELECT pg_reload_conf()});
	my $other = $i == 2 ? 'n3' : 'n2';
	$n->poll_query_until('postgres', qq{SELECT count(*) = 0 FROM mantis_peers WHERE node_name = '$other'}) or die;
}
$n1->poll_query_until('postgres', q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected'}) or die;
sql($n2, q{SELECT mantis_set('warm.n2', 'w')});
$n1->poll_query_until('postgres', q{SELECT mantis_get('warm.n2') IS NOT NULL}) or die;

# the follower of n2 starts
my %map;
my $cursor;
for (split /\n/, sql($n2, q{SELECT key, value, cursor FROM mantis_changes(NULL)}))
{
	my ($k, $v, $cur) = split /\|/;
	$map{$k} = $v;
	$cursor = $cur;
}
# n3 writes; n1 holds it at once, n2 not (no relay, no round for 1h)
sql($n3, q{SELECT mantis_set('from.n3', 'x')});
my $after_ms = int(Time::HiRes::time() * 1000) + 5;
$n1->poll_query_until('postgres', q{SELECT mantis_get('from.n3') = 'x'}) or die;
# a write of n1's after it, which n2 gets live: its cursor's HLC passes n3's write
sql($n1, q{SELECT mantis_set('later.n1', 'y')});
$n2->poll_query_until('postgres', q{SELECT mantis_get('later.n1') = 'y'}) or die;
# the follower of n2 follows until its cursor is past n3's write
my $past = 0;
for (1 .. 100)
{
	my $out = sql($n2, "SELECT key, coalesce(value, '<dead>'), cursor FROM mantis_changes('$cursor')");
	for (split /\n/, $out) { my ($k, $v, $cur) = split /\|/; $map{$k} = $v; $cursor = $cur }
	$cursor = sql($n2, q{SELECT mantis_cursor()}) if $out eq '';
	my ($held) = $cursor =~ /-([0-9a-f]{16})$/;
	$past = 1, last if hex($held) == 0 || (hex($held) >> 16) > $after_ms;
	select(undef, undef, undef, 0.1);
}
note "n2 holds from.n3: '" . sql($n2, q{SELECT mantis_get('from.n3')}) . "'";
note "cursor $cursor past n3's write: $past";
# fail-over to the hub
my ($ret, $out, $err) = $n1->psql('postgres', "SELECT key, coalesce(value, '<dead>'), cursor FROM mantis_changes('$cursor')");
for (split /\n/, $out) { my ($k, $v, $cur) = split /\|/; $map{$k} = $v }
note "hub's answer: '$out' err '$err'";
ok($err =~ /cannot answer/ || ($map{'from.n3'} // '') eq 'x', 'the follower that failed over to the hub has n3\'s write (or MT001)');

# the same cursor on n2 itself after a restart: the round with n1 on
# reconnecting brings n3's write, below the cursor's HLC
$n2->restart;
wait_loaded($n2);
$n2->poll_query_until('postgres', q{SELECT mantis_get('from.n3') = 'x'}) or die 'n2 never got from.n3';
($ret, $out, $err) = $n2->psql('postgres', "SELECT key, coalesce(value, '<dead>'), cursor FROM mantis_changes('$cursor')");
note "n2's answer after its restart: '$out' err '$err'";
ok($err =~ /cannot answer/ || $out =~ /^from\.n3\|x\|/m, 'the follower of n2 gets n3\'s write after n2 restarts (or MT001)');
$_->stop for ($n1, $n2, $n3);
done_testing();
