# The change feed across restarts (issue 21, "Tests").
#
# The watched server restarts: a cursor of its previous run is answered by
# a scan of the store (its log is gone), which returns every write made
# after the cursor - its own, flushed before the stop or repaired back
# after a crash, and its peer's; a deletion made after the cursor is
# loaded from the rows with no entry to name its key (store/changes.c's
# keyless bound), so that cursor fails with MT001, and a reload from NULL
# shows every live key.
#
# The writing server restarts: a client following n1 gets n2's writes from
# before and after n2's restart, and a cursor of n2's previous run, used
# on n2, returns both.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;
use MantisWatch;

my $c = mantis_cluster(2, q{
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub run_of { my ($cursor) = @_; return substr($cursor, 21, 16) }

sub has_all
{
	my ($rows, %want) = @_;
	my @wrong = grep { ($rows->{$_} // '<missing>') ne $want{$_} } sort keys %want;
	diag('got: ' . join(' ', map { "$_=$rows->{$_}" } sort keys %$rows)) if @wrong;
	return !@wrong;
}

wait_peers_connected(1, $n1, $n2);

# --- the watched server restarts, cleanly --------------------------------------
sql($n1, q{SELECT mantis_set('r.keep', 'k'), mantis_set('r.gone', 'g')});
sql($n1, q{SELECT mantis_delete('r.gone')});
my $c1 = cursor_past_now($n1);
sql($n1, q{SELECT mantis_set('r.a1', '1'), mantis_set('r.a2', '2'), mantis_set('r.keep', 'k2')});
sql($n2, q{SELECT mantis_set('r.b1', 'from n2')});
$n1->poll_query_until('postgres', q{SELECT mantis_get('r.b1') IS NOT NULL}) or die 'r.b1 never reached n1';
ok(has_all(feed($n1, $c1, 'r.')->{rows}, 'r.a1' => '1', 'r.a2' => '2', 'r.keep' => 'k2', 'r.b1' => 'from n2'),
	'before the restart, n1 answers the cursor from its log');
sql($n1, 'SELECT mantis_flush()');
$n1->restart;
wait_loaded($n1);
is(feed_sqlstate($n1, $c1, 'r.'), '', 'after a restart, a cursor of the previous run is answered');
my $a = feed($n1, $c1, 'r.');
ok(has_all($a->{rows}, 'r.a1' => '1', 'r.a2' => '2', 'r.keep' => 'k2', 'r.b1' => 'from n2'),
	'by a scan, with every write made after the cursor, n1\'s and n2\'s');
ok(!exists $a->{rows}{'r.gone'}, 'and not the deletion made before it');
isnt(run_of($a->{cursor}), run_of($c1), 'the answer\'s cursor is of the new run');
is_deeply(feed($n1, $a->{cursor}, 'r.')->{rows}, {}, 'and nothing follows it');

# --- a deletion after the cursor: MT001, then a reload -------------------------------
my $c2 = cursor_past_now($n1);
sql($n1, q{SELECT mantis_delete('r.a1')});
sql($n1, q{SELECT mantis_set('r.a3', '3')});
sql($n1, 'SELECT mantis_flush()');
$n1->restart;
wait_loaded($n1);
is(feed_sqlstate($n1, $c2, 'r.'), 'MT001',
	'a cursor from before a deletion that a restart loaded without its entry: MT001');
is(feed_sqlstate($n1, $c2, 'no.such.prefix.'), 'MT001', 'whatever the prefix (never a silently incomplete answer)');
my ($snap, $snap_cursor) = follow($n1, undef, 'r.');
is_deeply($snap, { 'r.keep' => 'k2', 'r.a2' => '2', 'r.a3' => '3', 'r.b1' => 'from n2' },
	'the reload from NULL: every live key, not the deleted one');

# --- the watched server crashes: what it lost comes back by repair -----------------
my $c3 = cursor_past_now($n1);
sql($n1, q{SELECT mantis_set('r.c1', 'crash n1')});
sql($n2, q{SELECT mantis_set('r.c2', 'crash n2')});
$n1->poll_query_until('postgres', q{SELECT mantis_get('r.c2') IS NOT NULL}) or die 'r.c2 never reached n1';
$n2->poll_query_until('postgres', q{SELECT mantis_get('r.c1') IS NOT NULL}) or die 'r.c1 never reached n2';
kill_and_start($n1);
wait_loaded($n1);
$n1->poll_query_until('postgres', q{SELECT mantis_get('r.c1') IS NOT NULL AND mantis_get('r.c2') IS NOT NULL})
  or die 'n1 never held r.c1 and r.c2 again';
is(feed_sqlstate($n1, $c3, 'r.'), '', 'after a crash, a cursor of the previous run is answered');
ok(has_all(feed($n1, $c3, 'r.')->{rows}, 'r.c1' => 'crash n1', 'r.c2' => 'crash n2'),
	'with both writes made after it');
# the reload's cursor, taken just after a start, may hold n2's writes
# through less than r.a1's deletion: then MT001, else both writes
my $state = feed_sqlstate($n1, $snap_cursor, 'r.');
note("the reload's cursor after the crash: " . ($state || 'answered'));
ok($state eq 'MT001' || has_all(feed($n1, $snap_cursor, 'r.')->{rows}, 'r.c1' => 'crash n1', 'r.c2' => 'crash n2'),
	'the client that reloaded before the crash gets both writes, or MT001');

# --- the writing server restarts ----------------------------------------------------
my $c4 = sql($n1, 'SELECT mantis_cursor()');
my $c_n2 = cursor_past_now($n2);
sql($n2, q{SELECT mantis_set('r.w1', 'before n2 restart')});
$n1->poll_query_until('postgres', q{SELECT mantis_get('r.w1') IS NOT NULL}) or die 'r.w1 never reached n1';
sql($n2, 'SELECT mantis_flush()');
$n2->stop('immediate');
$n2->start;
wait_loaded($n2);
sql($n2, q{SELECT mantis_set('r.w2', 'after n2 restart')});
$n1->poll_query_until('postgres', q{SELECT mantis_get('r.w2') IS NOT NULL}) or die 'r.w2 never reached n1';
is_deeply(feed($n1, $c4, 'r.')->{rows}, { 'r.w1' => 'before n2 restart', 'r.w2' => 'after n2 restart' },
	'n1, from a cursor before n2\'s restart: n2\'s writes before and after it, exactly (its log)');
is(feed_sqlstate($n2, $c_n2, 'r.'), '', 'n2, from a cursor of its previous run: answered');
ok(has_all(feed($n2, $c_n2, 'r.')->{rows}, 'r.w1' => 'before n2 restart', 'r.w2' => 'after n2 restart'),
	'with both of its writes');

$_->stop for $n1, $n2;
done_testing();
