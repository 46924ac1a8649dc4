# The change feed's fail-over (issue 21, "Tests"): a client follows n1,
# n1 dies, and the client resumes on n2 with n1's cursor.  n2 and n3 are
# cut apart, so n2 gets n3's write made after n1 died late, after a write
# of its own with a newer HLC: the client still gets every change made after its cursor,
# from n1's cursor on n2 and from n2's own cursors after the heal.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;
use MantisWatch;

my $c = mantis_cluster(3, q{
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub holds
{
	my ($n, @keys) = @_;
	my $list = join(',', map { "'$_'" } @keys);
	$n->poll_query_until('postgres', qq{SELECT count(*) = ${\ scalar @keys} FROM mantis_registers() WHERE key IN ($list)})
	  or die $n->name . " never held @keys";
}

wait_peers_connected(2, $n1, $n2, $n3);
sql($n1, q{SELECT mantis_set('f.0', 'start')});
ok(wait_converged($n1, $n2, $n3), 'f.0 everywhere');

# n2 and n3 cut apart; n1 still hears both
cut_link($c, 2, 3);
cut_link($c, 3, 2);
for my $pair ([ $n2, 'n3' ], [ $n3, 'n2' ])
{
	my ($n, $other) = @$pair;
	$n->poll_query_until('postgres',
		qq{SELECT count(*) = 0 FROM mantis_peers WHERE node_name = '$other' AND state = 'connected'})
	  or die $n->name . " never saw $other go";
}

my %got;    # what the client learned, key => value
my ($snap, $cursor) = follow($n1, undef, 'f.');
%got = %$snap;
is_deeply(\%got, { 'f.0' => 'start' }, 'the client loads f. from n1');

sql($n1, q{SELECT mantis_set('f.a', 'n1')});
sql($n2, q{SELECT mantis_set('f.b', 'n2')});
sql($n3, q{SELECT mantis_set('f.c', 'n3')});
holds($n1, 'f.a', 'f.b', 'f.c');
my ($rows, $next) = follow($n1, $cursor, 'f.');
%got = (%got, %$rows);
is_deeply($rows, { 'f.a' => 'n1', 'f.b' => 'n2', 'f.c' => 'n3' }, 'following n1: the writes of all three');
my $on_n1 = $next;

# n1 dies; then n3 writes, and n2 after it (a newer HLC).  n2 cannot get
# n3's write now (n1, which would relay it by a repair round, is gone)
$n1->stop('immediate');
sql($n3, q{SELECT mantis_set('f.d', 'n3 late for n2')});
sql($n2, q{SELECT pg_sleep(0.01), mantis_set('f.e', 'n2 after f.d')});
is(sql($n2, q{SELECT count(*) FROM mantis_registers('f.d')}), '0', 'n2 does not hold f.d');

# --- the client fails over to n2 with n1's cursor -----------------------------------
is(feed_sqlstate($n2, $on_n1, 'f.'), '', 'n2 answers n1\'s cursor');
($rows, $next) = follow($n2, $on_n1, 'f.');
%got = (%got, %$rows);
is($rows->{'f.e'} // '<missing>', 'n2 after f.d', 'n2 returns its own write made after the cursor');
ok(!exists $rows->{'f.d'}, 'not yet f.d, which n2 lacks');

heal_link($c, 2, 3);
heal_link($c, 3, 2);
holds($n2, 'f.d');
my $late = feed($n2, $next, 'f.');
is($late->{rows}{'f.d'} // '<missing>', 'n3 late for n2',
	'following n2 from its own cursor: f.d, which n2 got late with an older HLC');
# and what else n2 applied since its cursor: f.c too, when n1 died before
# it relayed f.c to n2 (n3's repair round brought it with f.d) - at least
# once, each as written
my %written = ('f.c' => 'n3', 'f.d' => 'n3 late for n2');
is_deeply([ grep { ($written{$_} // '') ne $late->{rows}{$_} } sort keys %{ $late->{rows} } ], [],
	'... and nothing but writes n2 applied after it, each as written');
%got = (%got, %{ $late->{rows} });
ok(sql($n2, q{SELECT (SELECT hlc FROM mantis_registers('f.d')) < (SELECT hlc FROM mantis_registers('f.e'))}) eq 't',
	'f.d is older than f.e, which n2 returned before it');
$rows = feed($n2, $on_n1, 'f.')->{rows};
is($rows->{'f.d'} // '<missing>', 'n3 late for n2', 'n1\'s cursor on n2 after the heal: f.d');
is($rows->{'f.e'} // '<missing>', 'n2 after f.d', '... and f.e');
is_deeply(\%got,
	{ 'f.0' => 'start', 'f.a' => 'n1', 'f.b' => 'n2', 'f.c' => 'n3', 'f.d' => 'n3 late for n2', 'f.e' => 'n2 after f.d' },
	'the client learned every write, across the fail-over');
is_deeply({ map { split /\|/ } split /\n/, sql($n2, q{SELECT key || '|' || value FROM mantis_registers('f.')}) },
	\%got, 'and it is what n2 holds');

$_->stop for $n2, $n3;
done_testing();
