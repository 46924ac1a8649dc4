# A server with records on (mantis.max_dead_records) but
# mantis.protocol_max = 4, as the settings table says to set before going
# back to a library older than 1.5, compacts nothing (R7 of
# src/common/rules.h: records only with protocol 5), so its sweep must not
# visit the leaves of dead registers to compact them (store/collect.c's
# compact_bound(), store/sweep.c's is_due()).  n1's one peer never comes:
# 3,000 deletions wait for it in full.  Over 3 s of sweeps, n1's sweep must
# visit no leaf (its DEBUG2 line says what each sweep visited).  Before,
# each sweep, one a second, visited every leaf holding one of them (about
# 2,900 a sweep) and compacted none.  Then, at protocol 5, the same
# deletions are compacted: the bound still works where it should.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $listen = PostgreSQL::Test::Cluster::get_free_port();
my $absent = PostgreSQL::Test::Cluster::get_free_port();
my $n1 = mantis_node('n1', qq{
mantis.listen = 'tcp://127.0.0.1:$listen'
mantis.peers = 'tcp://127.0.0.1:$absent'
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.tombstone_lifetime = '1h'
mantis.max_dead_records = 4096
mantis.protocol_max = 4
log_min_messages = debug2
});

sub sql { my ($q) = @_; return $n1->safe_psql('postgres', $q) }

sql(q{SELECT count(mantis_set('k' || i, 'v')) FROM generate_series(1, 3000) i});
sql(q{SELECT count(mantis_delete('k' || i)) FROM generate_series(1, 3000) i});

# past the compaction's grace (4 sync intervals), then 3 s of sweeps
my $grace_end = time() + 1.5;
usleep(50_000) while time() < $grace_end;
my $at = -s $n1->logfile;
my $end = time() + 3;
usleep(100_000) while time() < $end;
my @visited = (slurp_file($n1->logfile, $at) =~ /mantis sweep visited (\d+) leaves/g);
my $sum = 0;
$sum += $_ for @visited;
is($sum, 0, 'at protocol 4 the sweeps visit no leaf: nothing can be compacted');
is(sql(q{SELECT deleted_keys FROM mantis_status}), '3000', 'the 3,000 deletions wait in full');

# protocol 5: the same deletions become records
$n1->append_conf('postgresql.conf', "mantis.protocol_max = 5\n");
$n1->reload;
$n1->poll_query_until('postgres', q{SELECT deleted_keys = 0 FROM mantis_status})
  or diag('deleted_keys ' . sql(q{SELECT deleted_keys FROM mantis_status}));
is(sql(q{SELECT deleted_keys FROM mantis_status}), '0', 'at protocol 5 they are compacted into records');

$n1->stop;
done_testing();
