# Read your own writes on another server (issue 21, item 4), on three real
# servers whose links run through proxies the test can cut:
#  - a token from a COMMIT on n1 (mantis_last_commit()), waited for on n2
#    (mantis_wait_for()): true, and the writes of that COMMIT are readable
#    there the moment it returns;
#  - on n3, cut off from both: false at a short timeout, without the write;
#    a wait begun before the heal returns true once the partition heals
#    (woken by the replication worker, not by its timeout), and the write
#    is readable;
#  - a wait is cancellable: statement_timeout and pg_cancel_backend end it
#    with their own errors;
#  - a token of a node that is no peer: an error (55000).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use MantisTest;

my $c = mantis_cluster(3, qq{
mantis.peer_timeout = '2s'
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];

for my $i (1 .. 3)
{
	$c->{nodes}[$i]->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected'})
	  or die "n$i did not connect to its peers";
}

# commit(node, key => value, ...) — one transaction writing these keys;
# returns the session's token after its COMMIT
sub commit
{
	my ($node, %kv) = @_;
	my $sets = join('', map { "SELECT mantis_set('$_', '$kv{$_}') IS NULL;\n" } sort keys %kv);
	my $out = $node->safe_psql('postgres', "BEGIN;\n${sets}COMMIT;\nSELECT mantis_last_commit();");
	my @lines = split /\n/, $out;
	return $lines[-1];
}

# --- a token from a COMMIT on n1, waited for on n2 ---------------------------
my $t1 = commit($n1, 'ryw.a' => 'v1', 'ryw.b' => 'v1');
like($t1, qr/^\d{4}-\d\d-\d\dT[\d:.]+Z-[0-9a-f]{4}-[0-9a-f]{16}$/, "n1's COMMIT gives a token: $t1");
is($n1->safe_psql('postgres', qq{SELECT mantis_wait_for('$t1', '0')}), 't',
	'n1, which wrote it, holds it at once');
my $start = time();
is( $n2->safe_psql('postgres',
		qq{SELECT mantis_wait_for('$t1', '30 s'), mantis_get('ryw.a'), mantis_get('ryw.b')}),
	't|v1|v1',
	'n2 waits for the token: true, and both writes of the COMMIT are readable there');
note(sprintf('n2 held the token after %.1f ms', (time() - $start) * 1000));

is($n3->safe_psql('postgres', qq{SELECT mantis_wait_for('$t1'), mantis_get('ryw.a')}), 't|v1',
	'and so does n3');

# the next request of the same user, on n2 at once, 50 times: it reads the
# write, and the wait it took (in the server) is noted
my $w1 = $n1->background_psql('postgres');
my $w2 = $n2->background_psql('postgres');
my (@ms, $read);
for my $i (1 .. 50)
{
	my @out = split /\n/, $w1->query_safe(
		qq{BEGIN; SELECT mantis_set('ryw.seq', '$i') IS NULL; COMMIT; SELECT mantis_last_commit()});
	my ($held, $value, $ms) = split /\|/, $w2->query_safe(
		qq{SELECT mantis_wait_for('$out[-1]'), mantis_get('ryw.seq'),
		   round(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000, 3)});
	$read++ if $held eq 't' && $value eq $i;
	push @ms, $ms;
}
is($read, 50, 'a token taken after each of 50 COMMITs on n1, waited for on n2 at once: n2 reads each write');
@ms = sort { $a <=> $b } @ms;
note(sprintf('mantis_wait_for on n2 right after the COMMIT on n1: p50 %.3f ms, p90 %.3f ms, max %.3f ms',
		$ms[24], $ms[44], $ms[-1]));
# each COMMIT here comes within milliseconds of n1's previous batch, whose
# watermark it reuses: without the follow-up batch (replication/live.c)
# n2 held each write only at n1's next heartbeat, a second later
cmp_ok($ms[24], '<', 500, 'the median wait is far below the 1-s heartbeat');
$w1->quit;
$w2->quit;

# --- n3 cut off: false at a short timeout, true after the heal ---------------
isolate($c, 3);
my $t2 = commit($n1, 'ryw.a' => 'v2');
ok($t2 gt $t1, 'the next COMMIT gives a later token');
is($n2->safe_psql('postgres', qq{SELECT mantis_wait_for('$t2'), mantis_get('ryw.a')}), 't|v2',
	'n2, on the same side, holds it');
$start = time();
is($n3->safe_psql('postgres', qq{SELECT mantis_wait_for('$t2', '1 s'), mantis_get('ryw.a')}), 'f|v1',
	'n3, cut off: false at the timeout, and it still reads the old value');
cmp_ok(time() - $start, '>=', 0.9, 'after waiting out the timeout');

# cancellable, by statement_timeout and by pg_cancel_backend
my ($ret, $out, $err) = $n3->psql('postgres',
	qq{SET statement_timeout = '300ms'; SELECT mantis_wait_for('$t2', '5 min')});
like($err, qr/canceling statement due to statement timeout/, 'statement_timeout ends a wait');

my $bg = $n3->background_psql('postgres', on_error_stop => 0);
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
$bg->query_until(qr/waiting/, "\\echo waiting\nSELECT mantis_wait_for('$t2', '5 min');\n");
ok( $n3->poll_query_until('postgres',
		qq{SELECT wait_event_type = 'Extension' FROM pg_stat_activity WHERE pid = $pid}),
	'the wait sleeps (wait_event_type Extension)');
$n3->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$bg->query('SELECT 1');
like($bg->{stderr}, qr/canceling statement due to user request/, 'pg_cancel_backend ends a wait');

# a wait begun before the heal ends when the write arrives
$bg->{stderr} = '';
$bg->query_until(qr/waiting/,
	"\\echo waiting\nSELECT mantis_wait_for('$t2', '5 min') AS held, mantis_get('ryw.a') AS value;\n");
ok( $n3->poll_query_until('postgres',
		qq{SELECT wait_event_type = 'Extension' FROM pg_stat_activity WHERE pid = $pid}),
	'a wait on n3 sleeps while the partition lasts');
$start = time();
rejoin($c, 3);
my $held = $bg->query('SELECT 1');
like($held, qr/^t\|v2$/m, 'after the heal it returns true, and n3 reads the write');
note(sprintf('n3 held the token %.1f s after the heal', time() - $start));
cmp_ok(time() - $start, '<', 60, 'woken by the heal, not by its 5-minute timeout');
$bg->quit;

# --- a token of a node that is no peer of this server ------------------------
($ret, $out, $err) = $n2->psql('postgres',
	q{\set VERBOSITY verbose
SELECT mantis_wait_for('2026-11-26T02:11:33.123Z-0001-0123456789abcdef', '1 s')});
like($err, qr/55000.*not a peer of this server/s, "a node that is no peer's token: 55000");

$_->stop for ($n1, $n2, $n3);
done_testing();
