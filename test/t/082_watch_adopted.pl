# 082: a register adopted away (R6: a peer collected its key's deletion
# while this server was away) reads as deleted from then on; a follower of
# this server must be told so also when its cursor is answered by a scan
# (the change log moved past it): the entry of the adoption carries the
# register's old HLC, below the cursor's.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $c = mantis_cluster(3, qq{
mantis.sync_interval = '1h'
mantis.peer_timeout = '1s'
mantis.flush_interval = '100ms'
mantis.tombstone_lifetime = '2s'
}, node_conf => { 3 => "mantis.watch_memory = '64kB'\n" });
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];
my @all = ($n1, $n2, $n3);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub value { my ($n, $key) = @_; return sql($n, qq{SELECT coalesce(mantis_get('$key'), '<deleted>')}) }

# n3 adopted the key away: it stopped reading it (hidden at once), or says
# in mantis_status that an adoption waits for a compaction
sub wait_adopted
{
	my ($key) = @_;
	return $n3->poll_query_until('postgres',
		qq{SELECT mantis_get('$key') IS NULL OR collection LIKE '%adopted away wait for a compaction%'
		     FROM mantis_status});
}



# n3 away (still listed: the members agree); n1 deletes the key, n1 and
# n2 collect its marker by the lifetime
sub delete_while_away
{
	my ($key) = @_;
	sql($n1, qq{SELECT mantis_set('$key', 'old')});
	ok($_->poll_query_until('postgres', qq{SELECT mantis_get('$key') = 'old'}), $_->name . " reads $key = old")
	  for ($n2, $n3);
	sql($_, q{SELECT mantis_flush()}) for @all;
	# n3's cursors pass k's HLC before it is cut off
	my $ms = sql($n3, qq{SELECT (extract(epoch FROM left((SELECT hlc FROM mantis_registers('$key')), 24)::timestamptz) * 1000)::bigint});
	$n3->poll_query_until('postgres',
		"SELECT ('x' || right(mantis_cursor(), 16))::bit(64)::bigint >> 16 > $ms") or die 'n3 cursor stuck';
	isolate($c, 3);
	sql($n1, qq{SELECT mantis_delete('$key')});
	ok($n2->poll_query_until('postgres', qq{SELECT mantis_get('$key') IS NULL}), "the deletion of $key reaches n2");
	my $held = qq{SELECT EXISTS (SELECT FROM mantis_registers('$key', true) WHERE key = '$key')};
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	usleep(100_000) while grep({ sql($_, $held) eq 't' } $n1, $n2) && time() < $deadline;
	ok(!grep({ sql($_, $held) eq 't' } $n1, $n2), "n1 and n2 collect the marker of $key");
	is(value($n3, $key), 'old', "n3, cut off, still reads $key = old");
}

# n3 connected again; periodic rounds, so that n3 catches up with
# both and adopts
sub bring_back
{
	sql($_, q{ALTER SYSTEM SET mantis.sync_interval = '300ms'; SELECT pg_reload_conf()}) for @all;
	rejoin($c, 3);
	wait_peers_connected(2, @all);
}

delete_while_away('k');
# the follower of n3 (cut off, still holding k), its cursor past k's HLC
my %map;
my $cursor;
for (split /\n/, sql($n3, q{SELECT key, value, cursor FROM mantis_changes(NULL)}))
{
	my ($k, $v, $cur) = split /\|/;
	$map{$k} = $v;
	$cursor = $cur;
}
is($map{k}, 'old', 'the follower of n3 has k');
my ($held) = $cursor =~ /-([0-9a-f]{16})$/;
my $k_ms = sql($n3, q{SELECT (extract(epoch FROM left((SELECT hlc FROM mantis_registers('k')), 24)::timestamptz) * 1000)::bigint});
note "cursor $cursor, k written at $k_ms ms";
ok((hex($held) >> 16) > $k_ms, "the follower's cursor is past k's HLC");
bring_back();
ok($n3->poll_query_until('postgres', q{SELECT mantis_get('k') IS NULL}), 'n3 adopts k away');
# the log of n3 moves past the cursor
sql($n3, q{SET mantis.transactional = off; SELECT count(mantis_set('fill' || (i % 50), 'x')) FROM generate_series(1, 5000) i});
my ($ret, $out, $err) = $n3->psql('postgres', "SELECT key, deleted FROM mantis_changes('$cursor') WHERE key = 'k'");
note "answer: '$out' err '$err'";
ok($err =~ /cannot answer/ || $out eq 'k|t', 'the follower learns that k is gone (or MT001)');

# the same across a clean restart of n3 after its adoption
delete_while_away('k2');
$cursor = sql($n3, q{SELECT mantis_cursor()});
is(sql($n3, q{SELECT mantis_get('k2')}), 'old', 'the follower of n3 has k2');
bring_back();
ok($n3->poll_query_until('postgres', q{SELECT mantis_get('k2') IS NULL}), 'n3 adopts k2 away');
$n3->poll_query_until('postgres', q{SELECT collection NOT LIKE '%adopted away wait for a compaction%' FROM mantis_status}) or die;
$n3->restart;
wait_loaded($n3);
($ret, $out, $err) = $n3->psql('postgres', "SELECT key, deleted FROM mantis_changes('$cursor') WHERE key = 'k2'");
note "answer after the restart: '$out' err '$err'";
TODO:
{
	# Known gap: the adoption is made durable by a compaction that drops the
	# register and raises the refusal horizon only to its old HLC; after a
	# restart nothing says when the key went, so a scan from a cursor taken
	# before the adoption (its HLC above the old register's) answers without
	# it, and no MT001.  Passes or fails by the cursor's HLC against what the
	# load takes as keyless.  The rows would have to carry the time of the
	# compaction that covered adoptions.
	local $TODO = 'an adoption made durable before a restart is not named to older cursors';
	ok($err =~ /cannot answer/ || $out eq 'k2|t', 'after a restart the follower learns that k2 is gone (or MT001)');
}
$_->stop for @all;
done_testing();
