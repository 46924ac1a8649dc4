# After the TRUNCATE of 025, the refusal horizon lowered below the registers
# the held rows took with them must stay below them until they are back
# (a review of f9aaf19).  Lowered once, it rose again at the next sweep that
# collected a dead register above them: here the deletion of a key held
# back, which the sweep kept only while its held register was in a row, and
# which it collects as soon as the TRUNCATE takes the held keys away.  n1
# then refuses the lost registers from n2 as collected again, its rows
# carry that horizon, and n2, pulling from n1, adopts them away: committed
# writes gone from every server, as in 025.  n2 is stopped over the
# TRUNCATE so that no repair round opens a hole first; n1 then collects by
# the lifetime only, set to 1 s over the TRUNCATE so that the sweep would
# collect the marker (with the lifetime of an hour nothing is collected,
# and the test checked nothing).
# n1 holds a17..a40 (100 kB each) back for mantis.store_memory, with key
# slots free for the marker: registers held back for want of a slot come
# back as soon as one frees (persist/retry.c), and so would the key deleted.
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

sub a_keys
{
	my ($n) = @_;
	return sql($n, q{SELECT string_agg(key, ',' ORDER BY key) FROM mantis_registers('a', false) WHERE key ~ '^a[0-9]+$'});
}

sub hlc_of
{
	my ($n, $key) = @_;
	return sql($n, qq{SELECT (split_part(hlc, 'Z', 1) || 'Z')::timestamptz FROM mantis_registers('$key', true) WHERE key = '$key'});
}

wait_loaded($_) for @all;
wait_peers_connected(1, @all);

# --- a1..a40 on both, flushed; a deletion collected: horizons past them ------
sql($n1, q{SELECT count(mantis_set('a' || g, 'value ' || g || CASE WHEN g > 16 THEN repeat('x', 100000) ELSE '' END))
            FROM generate_series(1, 40) g});
for my $n (@all)
{
	$n->poll_query_until('postgres',
		q{SELECT count(*) = 40 FROM mantis_registers('a', false) WHERE key ~ '^a[0-9]+$'})
	  or die $n->name . ' lacks a1..a40';
	sql($n, q{SELECT mantis_flush()});
}
my $a_min = sql($n1, q{SELECT min((split_part(hlc, 'Z', 1) || 'Z')::timestamptz) FROM mantis_registers('a', false)});
# d collected first, then e, whose marker a flushed row holds: the last row
# written carries a horizon past a1..a40, and n2 holds nothing above it
sql($n1, q{SELECT mantis_set('d', 'x'), mantis_set('e', 'x')});
$n2->poll_query_until('postgres', q{SELECT mantis_get('e') = 'x'}) or die 'e did not reach n2';
for my $key ('d', 'e')
{
	sql($n1, qq{SELECT mantis_delete('$key')});
	sql($n1, q{SELECT mantis_flush()});
	for my $n (@all)
	{
		$n->poll_query_until('postgres',
			qq{SELECT refusal_horizon IS NOT NULL
			    AND NOT EXISTS (SELECT FROM mantis_registers('$key', true) WHERE key = '$key') FROM mantis_status})
		  or die $n->name . ": the marker of $key was not collected";
	}
}

# --- n1 restarts with 1 MB of store memory: most of a17..a40 held back ------
$n1->append_conf('postgresql.conf', "mantis.store_memory = '1MB'\n");
$n1->restart;
wait_loaded($n1);
wait_peers_connected(1, @all);
ok(status($n1, 'held_back') > 0, 'n1 holds registers back');

# the deletion of a key n1 holds back: its marker stays while the row does
my %in_n1 = map { $_ => 1 } split /,/, a_keys($n1);
my ($k) = grep { !$in_n1{$_} } split /,/, a_keys($n2);
sql($n1, qq{SELECT mantis_delete('$k')});
my $k_hlc = hlc_of($n1, $k);
$n2->poll_query_until('postgres',
	qq{SELECT NOT EXISTS (SELECT FROM mantis_registers('$k', true) WHERE key = '$k')})
  or die "n2 did not collect the marker of $k";
$n1->poll_query_until('postgres', qq{SELECT collection_horizon >= '$k_hlc'::timestamptz FROM mantis_status})
  or die "the collection horizon of n1 did not pass the deletion of $k";
ok(sql($n1, qq{SELECT EXISTS (SELECT FROM mantis_registers('$k', true) WHERE key = '$k')}) eq 't',
	"n1 keeps the marker of $k, held back in its rows");
my $expected = a_keys($n2);
my $nexp = scalar(split /,/, $expected);
note("n2 holds $nexp keys a*; n1 deleted $k (held back), at $k_hlc");

# --- n2 stops; the operator truncates mantis_stores on n1 -------------------
$n2->stop;
sql($n1, q{TRUNCATE mantis_stores});
$n1->poll_query_until('postgres', q{SELECT count(*) > 0 FROM mantis_stores})
  or die 'n1 wrote no rows after the TRUNCATE';
# with n2 away n1 collects by the lifetime only: a lifetime of 1 s lets the
# sweep collect the marker of k now, unless the registers the TRUNCATE took
# are a hole below it; give it time
sql($n1, q{ALTER SYSTEM SET mantis.tombstone_lifetime = '1s'; SELECT pg_reload_conf()});
my $deadline = time() + 5;
while (time() < $deadline)
{
	last if sql($n1, qq{SELECT NOT EXISTS (SELECT FROM mantis_registers('$k', true) WHERE key = '$k')}) eq 't';
	usleep(100_000);
}
sql($n1, q{ALTER SYSTEM RESET mantis.tombstone_lifetime; SELECT pg_reload_conf()});
# a write (to a key n1 holds: the store is full) and a flush: rows carry it
my $t = sql($n1, q{SELECT key FROM mantis_registers('a', false) WHERE key ~ '^a[0-9]+$' ORDER BY key LIMIT 1});
sql($n1, qq{SELECT mantis_set('$t', 'again')});
sql($n1, q{SELECT mantis_flush()});
note('n1 after the TRUNCATE: '
	  . sql($n1, q{SELECT format('held_back %s, keys %s, refusal_horizon %s', held_back, keys, refusal_horizon)
	                 FROM mantis_status}));
ok(sql($n1, qq{SELECT refusal_horizon IS NULL OR refusal_horizon < '$a_min'::timestamptz FROM mantis_status}) eq 't',
	'the refusal horizon of n1 stays below the registers the TRUNCATE took');

# --- room again; n2 back -------------------------------------------------------
$n1->append_conf('postgresql.conf', "mantis.store_memory = '64MB'\n");
$n1->restart;
$n2->start;
wait_loaded($_) for @all;
wait_peers_connected(1, @all);
$deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
while (time() < $deadline)
{
	last if a_keys($n1) eq $expected && a_keys($n2) eq $expected;
	last if a_keys($n2) ne $expected;
	usleep(200_000);
}
is(a_keys($n2), $expected, 'n2 still holds its keys a*: nothing committed is given up');
is(a_keys($n1), $expected, 'n1 holds them again, from n2');
note('n2 refused_collected ' . status($n2, 'refused_collected') . ', n1 refused_collected '
	  . status($n1, 'refused_collected'));

$_->stop for @all;
done_testing();
