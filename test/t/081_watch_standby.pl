# 081: a cursor of a hot standby (which has its primary's node name, and
# holds only what the primary flushed and the standby replayed) used on the
# primary, and on the standby once promoted: the primary's writes the
# standby did not hold yet must come (or MT001).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use MantisTest;

my $zmq = PostgreSQL::Test::Cluster::get_free_port();
my $primary = mantis_node('p', qq{
mantis.listen = 'tcp://127.0.0.1:$zmq'
mantis.flush_interval = '1h'
}, init => { allows_streaming => 1 });
sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }
sql($primary, q{SELECT mantis_set('a', '1'); SELECT mantis_flush()});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$standby->poll_query_until('postgres', q{SELECT persistence = 'standby' FROM mantis_status}) or die;
$standby->poll_query_until('postgres', q{SELECT mantis_get('a') = '1'}) or die;

# the primary writes; not flushed, so the standby has not got it
sql($primary, q{SELECT mantis_set('b', '2')});
my $after_ms = int(Time::HiRes::time() * 1000) + 5;
# a follower of the standby, its cursor a moment later
my $cursor;
my %map;
for (split /\n/, sql($standby, q{SELECT key, value, cursor FROM mantis_changes(NULL)}))
{
	my ($k, $v, $c) = split /\|/;
	$map{$k} = $v;
	$cursor = $c;
}
$standby->poll_query_until('postgres',
	"SELECT ('x' || right(mantis_cursor(), 16))::bit(64)::bigint >> 16 > $after_ms OR right(mantis_cursor(), 16) = '0000000000000000'")
  or note 'the standby cursor never passed the write';
$cursor = sql($standby, q{SELECT mantis_cursor()});
note "standby cursor $cursor; status: " . sql($standby, q{SELECT node_name, node_id FROM mantis_status});
note "primary cursor " . sql($primary, q{SELECT mantis_cursor()});
my ($ret, $out, $err) = $primary->psql('postgres', "SELECT key, value FROM mantis_changes('$cursor')");
note "primary's answer: '$out' err '$err'";
ok($err =~ /cannot answer/ || $out =~ /^b\|2$/m, 'a follower of the standby that moves to the primary gets b (or MT001)');
$standby->stop;
$primary->stop;
done_testing();
