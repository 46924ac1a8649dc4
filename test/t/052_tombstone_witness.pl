# A hash tombstone taken moves the taker's clock past it (R7 of
# src/common/rules.h, store/dead.c's mantis_store_tombstone()), as a
# register merged from a peer does: a key written after its tombstone
# replaced what the server held must be newer than the deletion.  Else the
# write is older than the record the deleting peer holds, which refuses it,
# and that peer's next tombstone takes the key back from the writer: a write
# made after the deletion was seen is lost everywhere.
#
# Usually the frame's header (the sender's clock) moves the taker's clock
# anyway; not when the header is beyond mantis.max_clock_offset while the
# tombstone is within it.  n2's wall clock is set 60 s behind
# (mantis.debug_clock_offset) with mantis.max_clock_offset = 50 s: once 10 s
# have passed since n1 deleted k, n1's tombstone of k is within n2's offset
# and n1's frames are not.  n2 was away for the deletion (so n1 compacted it
# into a record and sends it as a tombstone); back, it takes the tombstone,
# reads k as NULL and writes k = 'new'.  Both servers must end with 'new'.
# (Without the clock witnessing the tombstone, n2's write got an HLC below
# the deletion's: n1 refused it and n2 lost it to n1's tombstone.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $c = mantis_cluster(2, q{
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
mantis.tombstone_lifetime = '1h'
mantis.max_dead_records = 1024
mantis.max_clock_offset = '50s'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub value_of
{
	my ($n) = @_;
	return sql($n, q{SELECT coalesce(mantis_get('k'), '<null>')});
}

sub speaks_5
{
	my ($n) = @_;
	$n->poll_query_until('postgres', q{SELECT bool_and(protocol = 5) FROM mantis_peers})
	  or die $n->name . ' never spoke protocol 5';
}

wait_peers_connected(1, $n1, $n2);
speaks_5($_) for ($n1, $n2);

sql($n1, q{SELECT mantis_set('k', 'old')});
ok(wait_converged($n1, $n2), 'n2 holds k');
$n2->stop;
$n1->poll_query_until('postgres', q{SELECT count(*) = 0 FROM mantis_peers WHERE state = 'connected'})
  or die 'n1 never saw n2 go';

# n2 away: n1 deletes k, and compacts the deletion into a record
sql($n1, q{SELECT mantis_delete('k')});
my $deleted_at = time();
my $deletion = sql($n1, q{SELECT hlc FROM mantis_registers(true) WHERE key = 'k'});
$n1->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
  or die 'n1 never compacted the deletion of k';

# n2 back, its clock 60 s slow: n1's frames are beyond its offset
$n2->append_conf('postgresql.conf', "mantis.debug_clock_offset = '-60s'\n");
$n2->start;
wait_loaded($n2);
$n2->poll_query_until('postgres', q{SELECT mantis_get('k') IS NULL})
  or die 'n2 never took the tombstone of k';
my $taken_after = time() - $deleted_at;
note(sprintf('n2 took the tombstone %.1f s after the deletion', $taken_after));
ok($taken_after < 50, 'the tombstone was taken while it was ahead of n2\'s clock');

# a write after the deletion was seen: newer than it
sql($n2, q{SELECT mantis_set('k', 'new')});
my $write = sql($n2, q{SELECT hlc FROM mantis_registers(true) WHERE key = 'k'});
note("deletion on n1 at $deletion, write on n2 at $write");

# n1 takes it, n2 keeps it, over rounds of both
my $deadline = time() + 15;
usleep(100_000) while value_of($n1) ne 'new' && time() < $deadline;
is(value_of($n1), 'new', 'n1 took n2\'s write made after the deletion');
my $rounds = sql($n2, q{SELECT sum(repair_rounds) FROM mantis_peers});
$n2->poll_query_until('postgres', qq{SELECT sum(repair_rounds) >= $rounds + 3 FROM mantis_peers})
  or diag('n2 made no more rounds');
is(value_of($n2), 'new', 'n2 keeps its write: no tombstone takes it back');
is(value_of($n1), 'new', 'n1 still holds it');

$n1->stop;
$n2->stop;
done_testing();
