# Transactional writes as other sessions and other servers see them: none
# of a transaction's writes before COMMIT, all of them after; nothing from
# a transaction rolled back or cut off by a lost connection; and, under
# concurrent commits and reads, never part of a transaction.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use MantisTest;

my $c = mantis_cluster(2, qq{
mantis.sync_interval = '1s'
mantis.peer_timeout = '2s'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];
for my $node ($n1, $n2)
{
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM mantis_peers WHERE state = 'connected'})
	  or die "the two servers did not connect";
}

sub count_prefix
{
	my ($node, $prefix) = @_;
	return $node->safe_psql('postgres', qq{SELECT count(*) FROM mantis_registers('$prefix')});
}

# An immediate write made after the ones under test: once the peer has it,
# the peer has everything sent before it (one link, in order).
my $markers = 0;
sub marker_reaches_peer
{
	my $key = 'marker.' . ++$markers;
	$n1->safe_psql('postgres',
		qq{SET mantis.transactional = off; SELECT mantis_set('$key', 'x')});
	return $n2->poll_query_until('postgres', qq{SELECT mantis_get('$key') = 'x'});
}

# --- before COMMIT nobody else sees the writes; after it, all of them ------
my $s = $n1->background_psql('postgres');
$s->query_safe('BEGIN');
$s->query_safe(q{SELECT count(*) FROM (SELECT mantis_set('tx.' || i, 'v1') FROM generate_series(1, 100) i) s});
is($s->query_safe(q{SELECT count(*) FROM mantis_registers('tx.')}), 100,
	'the transaction reads its own 100 writes');
is(count_prefix($n1, 'tx.'), 0, 'another session sees none of them before COMMIT');
ok(marker_reaches_peer(), 'a later immediate write reaches the peer');
is(count_prefix($n2, 'tx.'), 0, 'the peer has none of them before COMMIT');
$s->query_safe('COMMIT');
is(count_prefix($n1, 'tx.'), 100, 'another session sees all 100 once committed');
is($n1->safe_psql('postgres', q{SELECT count(DISTINCT hlc) FROM mantis_registers('tx.')}), 1,
	'all under one HLC');
ok($n2->poll_query_until('postgres',
		q{SELECT count(*) = 100 AND count(DISTINCT hlc) = 1 FROM mantis_registers('tx.')}),
	'the peer gets all 100, with the same HLC');

# --- ROLLBACK, a rolled-back savepoint and a lost connection send nothing --
$s->query_safe('BEGIN');
$s->query_safe(q{SELECT mantis_set('kept.0', 'yes')});
$s->query_safe('SAVEPOINT sp');
$s->query_safe(q{SELECT mantis_set('rb.2', 'no')});
$s->query_safe('ROLLBACK TO SAVEPOINT sp');
$s->query_safe(q{SELECT mantis_set('kept.1', 'yes')});
$s->query_safe('COMMIT');
$s->query_safe('BEGIN');
$s->query_safe(q{SELECT mantis_set('rb.3', 'no')});
$s->query_safe('ROLLBACK');
$s->quit;

my $lost = $n1->background_psql('postgres');
my $pid = $lost->query_safe('SELECT pg_backend_pid()');
$lost->query_safe('BEGIN');
$lost->query_safe(q{SELECT mantis_set('rb.4', 'no')});
$lost->quit;    # the client goes away without COMMIT
ok($n1->poll_query_until('postgres',
		qq{SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid}),
	'the backend of the lost connection has ended');

ok(marker_reaches_peer(), 'a later immediate write reaches the peer');
is(count_prefix($n1, 'rb.'), 0, 'nothing rolled back or cut off is stored here');
is(count_prefix($n2, 'rb.'), 0, 'nor on the peer');
is($n2->safe_psql('postgres', q{SELECT mantis_get('kept.1')}), 'yes',
	'what the savepoint did not cover was committed and replicated');

# --- a COMMIT that fails after the commit callbacks began shows nothing -----
# Two SERIALIZABLE transactions with write skew: PostgreSQL fails the second
# COMMIT (40001) after mantis has reserved room for its writes; they must
# not appear, and the reservation must come back.
$n1->safe_psql('postgres', q{CREATE TABLE skew (id int, v int)});
my ($a, $b) = ($n1->background_psql('postgres'), $n1->background_psql('postgres'));
$b->query_safe('\\set ON_ERROR_STOP 0');    # its COMMIT is to fail
for my $x ([ $a, 1 ], [ $b, 2 ])
{
	my ($sess, $id) = @$x;
	$sess->query_safe('BEGIN ISOLATION LEVEL SERIALIZABLE');
	$sess->query_safe('SELECT count(*) FROM skew');
}
for my $x ([ $a, 1 ], [ $b, 2 ])
{
	my ($sess, $id) = @$x;
	$sess->query_safe("INSERT INTO skew VALUES ($id, $id)");
	$sess->query_safe("SELECT mantis_set('skew.$id', 'committed?')");
}
my $before = $n1->safe_psql('postgres', q{SELECT keys + deleted_keys || ' ' || memory_used FROM mantis_status});
$a->query_safe('COMMIT');
$b->query('COMMIT');
like($b->{stderr}, qr/could not serialize access/, 'the second COMMIT fails with a serialization failure');
$a->quit;
$b->quit;
is($n1->safe_psql('postgres', q{SELECT string_agg(id::text, ',') FROM skew}), '1',
	'its table row is rolled back');
is($n1->safe_psql('postgres', q{SELECT mantis_get('skew.1')}), 'committed?',
	'the first transaction\'s write is there');
is($n1->safe_psql('postgres', q{SELECT mantis_get('skew.2') IS NULL}), 't',
	'the failed transaction\'s write is not');
my ($keys_before, $mem_before) = split / /, $before;
is($n1->safe_psql('postgres', q{SELECT keys + deleted_keys FROM mantis_status}), $keys_before + 1,
	'and the room it reserved was given back (one key more, for the committed write)');

# --- concurrent commits and batch reads: all of a transaction or none ------
# Writers commit transactions that set the 50 keys g.1 .. g.50 to one value
# each; readers read the 50 with mantis_get_many and fail (1/0) if they
# ever see two values at once.
my $dir = PostgreSQL::Test::Utils::tempdir();
open my $w, '>', "$dir/writer.sql" or die;
print $w <<'EOF';
\set v random(1, 1000000000)
BEGIN;
SELECT count(*) FROM (SELECT mantis_set('g.' || i, :v::text) FROM generate_series(1, 50) i) s;
COMMIT;
EOF
close $w;
open my $r, '>', "$dir/reader.sql" or die;
print $r <<'EOF';
SELECT count(value) AS present, count(DISTINCT value) AS distinct_values
  FROM mantis_get_many(ARRAY(SELECT 'g.' || i FROM generate_series(1, 50) i))
\gset
\if :present > 0 and (:present != 50 or :distinct_values != 1)
SELECT 1 / 0 AS torn_read;
\endif
EOF
close $r;

my $connstr = $n1->connstr('postgres');
my ($wout, $rout) = ('', '');
my $writers = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '2', '-t', '1500', '-f', "$dir/writer.sql", $connstr ],
	'>', \$wout, '2>&1');
my $readers = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '2', '-t', '6000', '-f', "$dir/reader.sql", $connstr ],
	'>', \$rout, '2>&1');
$writers->finish;
my $writers_rc = $?;
$readers->finish;
my $readers_rc = $?;
is($writers_rc, 0, '2 writers committed 3,000 transactions of 50 writes') or diag($wout);
is($readers_rc, 0, '2 readers read the 50 keys 12,000 times and never saw part of a transaction')
  or diag($rout);
unlike($rout, qr/torn_read|division by zero/, 'no torn read');
is($n1->safe_psql('postgres',
		q{SELECT count(*) = 50 AND count(DISTINCT value) = 1 AND count(DISTINCT hlc) = 1 FROM mantis_registers('g.')}),
	't', 'the last transaction holds all 50 keys, with one value and one HLC');
ok(wait_converged($n1, $n2), 'the peer converges on the same registers');

for my $node ($n1, $n2)
{
	ok(!$node->log_contains(qr/TRAP|PANIC|terminated by signal/), $node->name . ': no crash in the log');
}
$_->stop for ($n1, $n2);
done_testing();
