# 077_watch_standby.pl — a standby's cursor and the rows it has not
# merged yet.
#
# A hot standby merges its primary's writes as their rows arrive
# (persist/ follows mantis_stores), not in the order of their HLCs: a
# write of the primary below the standby's clock can come after a cursor
# of the standby.  Its entry is after the cursor's seq (the standby's own
# log answers exactly), but a scan from the cursor's HLC - the primary
# after a fail-back, this standby after a restart or once its log moved
# on - skipped it.  A standby's cursor vouches for no HLC.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use MantisTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $n1 = mantis_node('n1', "mantis.flush_interval = '1h'\n",
	init => { allows_streaming => 1 });

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sql($n1, q{SELECT mantis_set('sb/0', 'v')});
sql($n1, q{SELECT mantis_flush()});
$n1->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($n1, 'b', has_streaming => 1);
# the standby follows mantis_stores each flush interval
$standby->append_conf('postgresql.conf', "mantis.flush_interval = '100ms'\n");
$standby->start;
$standby->poll_query_until('postgres',
	q{SELECT persistence = 'standby' FROM mantis_status})
  or die 'the standby did not load';

# a write of the primary, not flushed yet
sql($n1, q{SELECT mantis_set('sb/1', 'v')});
my $t1 = sql($n1, q{SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint});
# the standby's clock (and its sweep) well past the write
$standby->poll_query_until('postgres',
	"SELECT extract(epoch FROM clock_timestamp()) * 1000 > $t1 + 3000")
  or die 'time stood still';
my $c = sql($standby, q{SELECT mantis_cursor()});

sql($n1, q{SELECT mantis_flush()});
$n1->wait_for_catchup($standby);
$standby->poll_query_until('postgres', q{SELECT mantis_get('sb/1') = 'v'})
  or die 'the standby did not merge sb/1';

is(sql($standby, "SELECT string_agg(key, ',' ORDER BY key) FROM mantis_changes('$c', 'sb/')"),
	'sb/1', 'the standby\'s log answers its cursor with the row merged after it');
my $other_run = $c;
substr($other_run, 21, 16) = '0000000000000000';
like(sql($standby, "SELECT string_agg(key, ',' ORDER BY key) FROM mantis_changes('$other_run', 'sb/')"),
	qr/sb\/1/, 'a scan from the standby\'s cursor returns the row merged after it');

$standby->stop;
$n1->stop;
done_testing();
