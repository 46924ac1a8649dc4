# Records (R7) and a hot standby promoted in their server's place.
#
# Three servers with room for records; n1 has a streaming standby.  n3 holds
# a1..a50, then stops; n1 deletes them, and the deletions become records,
# which a compaction writes to n1's rows.  The standby follows those rows.
# n1 stops and the standby is promoted as n1.  n3 comes back holding its old
# values.  No server may serve a deleted key once the three converge, and
# the promoted n1 must never serve one.
#
# MANTIS_058_STANDBY_RECORDS sets the standby's mantis.max_dead_records
# (default 0: a standby configured without records, which DEAD.md says
# holds the records back as a hole).  With 1024, as its primary, every
# check passed before and passes.  With 0, before held-back records
# refused anything (store/dead.c dead_held_refuses()), 3 checks failed: the
# promoted n1 held back the 100 records of its rows, and nothing it held
# refused n3's old values of their keys, so it took them and served all 50
# deleted keys; it then decided to adopt them away (n2's refusal horizon
# covered them), but "50 registers adopted away wait for a compaction",
# which never runs while rows are held back (R6), and the records' rows
# never merge (mantis.max_dead_records is 0 until a restart): it served
# them indefinitely (3 minutes in the run).  Now the held-back records
# refuse them (n3 speaks 4 with it: no tombstone is involved), and the
# dead registers the standby followed in full (b1..b50) are not made to
# wait for their held-back records (persist/heldset.c), or the three
# would never converge.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use MantisTest;

my $standby_records = $ENV{MANTIS_058_STANDBY_RECORDS} // 0;

my $c = mantis_cluster(3, q{
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
mantis.tombstone_lifetime = '1h'
mantis.max_dead_records = 1024
mantis.compact_rows = 1
}, init => { allows_streaming => 1 });
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub served
{
	my ($n, $prefix, $count) = @_;
	return sql($n, qq{SELECT count(*) FROM generate_series(1, $count) i
	                   WHERE mantis_get('$prefix' || i) IS NOT NULL});
}

sub stored_records
{
	my ($n) = @_;
	return sql($n, q{
	  SELECT coalesce(sum((get_byte(registers, 20)::int8 << 24) + (get_byte(registers, 21) << 16) +
	                      (get_byte(registers, 22) << 8) + get_byte(registers, 23)), 0)
	    FROM mantis_stores WHERE get_byte(registers, 5) & 1 = 1});
}

sub compact_and_wait
{
	my ($n) = @_;
	my $before = sql($n, q{SELECT max(id) FROM mantis_stores});
	sql($n, q{SELECT mantis_set('tick', clock_timestamp()::text)});
	sql($n, q{SELECT mantis_flush()});
	$n->poll_query_until('postgres', qq{SELECT min(id) > $before FROM mantis_stores})
	  or die $n->name . ': no compaction';
}

sub status
{
	my ($n) = @_;
	return sql($n, q{SELECT format('keys %s deleted %s held_back %s refusal %s collection %s',
	  keys, deleted_keys, held_back, refusal_horizon, collection) FROM mantis_status});
}

wait_peers_connected(2, $n1, $n2, $n3);
sql($n1, q{SELECT count(mantis_set('a' || i, 'old ' || i)) FROM generate_series(1, 50) i});
ok(wait_converged($n1, $n2, $n3), 'the three hold a1..a50');
$n3->stop;
$n1->poll_query_until('postgres', q{SELECT state <> 'connected' FROM mantis_peers WHERE node_name = 'n3'})
  or die 'n1 never saw n3 go';

sql($n1, q{SELECT count(mantis_delete('a' || i)) FROM generate_series(1, 50) i});
for my $n ($n1, $n2)
{
	$n->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
	  or diag($n->name . ': ' . status($n));
}
compact_and_wait($n1);
my $recs = stored_records($n1);
ok($recs >= 50, "n1's rows hold its records ($recs)");

# --- a standby of n1, taken now: its rows are records ------------------------
$n1->backup('n1_now');
my $standby = PostgreSQL::Test::Cluster->new('n1_standby');
$standby->init_from_backup($n1, 'n1_now', has_streaming => 1);
$standby->append_conf('postgresql.conf', "mantis.max_dead_records = $standby_records\n");
$standby->start;
$standby->poll_query_until('postgres', q{SELECT persistence = 'standby' FROM mantis_status})
  or die 'the standby never followed';
note('standby: ' . status($standby));
is(served($standby, 'a', 50), '0', 'the standby serves no deleted key');

# more deletions on n1 while the standby follows: they reach it as dead
# registers (delta rows), then as records (the compaction)
sql($n1, q{SELECT count(mantis_set('b' || i, 'v')) FROM generate_series(1, 50) i});
sql($n1, q{SELECT mantis_flush()});
sql($n1, q{SELECT count(mantis_delete('b' || i)) FROM generate_series(1, 50) i});
$n1->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
  or diag('n1: ' . status($n1));
compact_and_wait($n1);
$n1->wait_for_catchup($standby);
$standby->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM generate_series(1, 50) i WHERE mantis_get('b' || i) IS NOT NULL})
  or diag('standby serves b: ' . served($standby, 'b', 50));
note('standby after the second compaction: ' . status($standby));

# --- n1 stops; the standby is promoted as n1 ----------------------------------
$n1->stop;
$standby->promote;
wait_loaded($standby);
is(sql($standby, q{SELECT node_name FROM mantis_status}), 'n1', 'the promoted standby is n1');
note('promoted: ' . status($standby));
is(served($standby, 'a', 50) . ' ' . served($standby, 'b', 50), '0 0',
	'the promoted n1 serves no deleted key');

# --- n3 comes back with its old values ----------------------------------------
$n3->start;
wait_loaded($n3);
wait_peers_connected(2, $standby, $n2, $n3);
note('protocols on the promoted n1: ' . sql($standby,
	q{SELECT string_agg(node_name || ':' || protocol, ' ' ORDER BY node_name) FROM mantis_peers}));

# watch the promoted n1 for a while: the most deleted keys it served at once
my $worst = 0;
my $deadline = time() + 15;
while (time() < $deadline)
{
	my $s = served($standby, 'a', 50);
	$worst = $s if $s > $worst;
	usleep(100_000);
}
note('promoted: ' . status($standby));
note('n3: ' . status($n3));
note('n2: ' . status($n2));
is($worst, 0, 'the promoted n1 never served a deleted key (most at once: ' . $worst . ')');
for my $n ($standby, $n2, $n3)
{
	is(served($n, 'a', 50) . ' ' . served($n, 'b', 50), '0 0',
		$n->name . ': nothing deleted comes back');
}
ok(wait_converged($standby, $n2, $n3), 'the three converge');

$_->stop for ($standby, $n2, $n3);
done_testing();
