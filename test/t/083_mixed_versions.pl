# A cluster of mixed PostgreSQL major versions, as while its servers are
# upgraded one at a time: n1 runs PostgreSQL 15, n2 and n3 the installed
# one (18 in CI), each with mantis of this tree built for it.
#  - Frames: sets, typed values, TTLs, deletions and a transaction's batch
#    made on either version reach the others, which converge register for
#    register, HLCs and deletion markers included; a server partitioned
#    from the others catches up when the link heals (the full state sent
#    to a peer that rejoins, then repair).
#  - Rows: a row of mantis_stores written on 15 decodes on 18 to the same
#    registers, and one written on 18 on 15 (mantis_decode); a dump of the
#    15 server's database restored into a fresh server of the other
#    version gives it the same registers.
# Needs both installations side by side: MANTIS_PG15_INSTALL names 15's
# (test/run_all.sh sets it in the 18 root, test/pg_root.sh); elsewhere
# the file skips, saying so.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my ($c, $old) = mixed_cluster(3, 'MANTIS_PG15_INSTALL');
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];
my @all = ($n1, $n2, $n3);
my $new_major = server_major();

sub sql { my ($node, $q) = @_; return $node->safe_psql('postgres', $q) }

like(sql($n1, 'SHOW server_version_num'), qr/^15/, 'n1 runs PostgreSQL 15');
like(sql($_, 'SHOW server_version_num'), qr/^$new_major/, $_->name . " runs PostgreSQL $new_major")
  for ($n2, $n3);
is(sql($n1, q{SELECT extversion FROM pg_extension WHERE extname = 'mantis'}),
	sql($n2, q{SELECT extversion FROM pg_extension WHERE extname = 'mantis'}),
	'both versions run the same extension version');
wait_peers_connected(2, @all);
pass('every server is connected to the two others, across versions');
# a link starts in protocol 3 and moves to the newest both speak once they
# have greeted each other (README, Protocol versions)
ok($_->poll_query_until('postgres',
		q{SELECT bool_and(protocol = current_setting('mantis.protocol_max')::int) FROM mantis_peers WHERE state = 'connected'}),
	$_->name . ' speaks the newest protocol version with both peers')
  for @all;

# the same library names its waits on 17 and later (src/wait_events.c)
my $named = wait_event_name('MantisReplicationMain');
ok($n2->poll_query_until('postgres',
		qq{SELECT wait_event = '$named' FROM pg_stat_activity WHERE backend_type = 'mantis replication'}),
	"on $new_major the replication worker waits as $named");
ok($n1->poll_query_until('postgres',
		q{SELECT wait_event_type = 'Extension' AND wait_event = 'Extension' FROM pg_stat_activity WHERE backend_type = 'mantis replication'}),
	'on 15 as Extension, as every extension\'s wait');

# --- writes on either version reach the others ----------------------------
sql($n1, q{SELECT mantis_set('mixed.text', 'written on 15')});
sql($n1, q{SELECT mantis_set('mixed.int', 42)});
sql($n1, q{SELECT mantis_set('mixed.json', '{"a": [1, 2]}'::jsonb)});
sql($n1, q{SELECT mantis_set('mixed.ttl', 'for an hour', '1 hour')});
sql($n2, q{SELECT mantis_set('mixed.later', 'written on 18')});
sql($n2, q{SELECT mantis_set('mixed.doomed', 'to be deleted on 15')});
sql($n2, q{BEGIN; SELECT mantis_set('mixed.batch.' || i, 'b' || i) FROM generate_series(1, 50) i; COMMIT;});
$n1->poll_query_until('postgres', q{SELECT mantis_get('mixed.doomed') IS NOT NULL})
  or die 'n1 never got mixed.doomed';
sql($n1, q{SELECT mantis_delete('mixed.doomed')});
sql($n3, q{SELECT mantis_set('mixed.text', 'overwritten on ' || current_setting('server_version_num'))});

ok(wait_converged(@all), 'the three servers converge: the same registers, HLCs and markers');
is(sql($n2, q{SELECT mantis_get('mixed.text')}), "overwritten on " . sql($n3, 'SHOW server_version_num'),
	'the later write wins on every version');
is(sql($n3, q{SELECT mantis_get_int('mixed.int')}), '42', 'a typed value set on 15 reads typed on 18');
is(sql($n2, q{SELECT mantis_get_json('mixed.json') -> 'a' ->> 1}), '2', 'so does a JSON value');
ok(sql($n3, q{SELECT mantis_ttl('mixed.ttl') BETWEEN '59 minutes' AND '1 hour'}) eq 't',
	"a TTL set on 15 counts down on $new_major");
is(sql($n1, q{SELECT count(*) FROM mantis_registers() WHERE key LIKE 'mixed.batch.%'}), '50',
	"a transaction's batch made on $new_major is whole on 15");
is(sql($n3, q{SELECT coalesce(mantis_get('mixed.doomed'), '<gone>')}), '<gone>',
	"a deletion made on 15 holds on $new_major");

# --- a partitioned server catches up across versions ----------------------
isolate($c, 1);
sql($n2, q{SELECT mantis_set('mixed.apart.' || i, 'from 18 ' || i) FROM generate_series(1, 100) i});
sql($n1, q{SELECT mantis_set('mixed.apart.on15', 'from 15 while apart')});
sql($n1, q{SELECT mantis_delete('mixed.later')});
rejoin($c, 1);
ok(wait_converged(@all), 'after the partition heals the three converge again');
is(sql($n1, q{SELECT count(*) FROM mantis_registers() WHERE key LIKE 'mixed.apart.%'}), '101',
	'n1 (15) has what was written on 18 while apart, and its own write');
is(sql($n3, q{SELECT coalesce(mantis_get('mixed.later'), '<gone>')}), '<gone>',
	'the deletion made on 15 while apart reaches 18');

# --- rows of mantis_stores read the same on both versions -----------------
sql($_, 'SELECT mantis_flush()') for ($n1, $n2);
sub decode
{
	my ($node, $row) = @_;
	return sql($node, qq{SELECT string_agg(format('%s|%s|%s|%s', key, coalesce(value, '<deleted>'), hlc, node), E'\\n' ORDER BY key)
		FROM mantis_decode('$row'::bytea)});
}
for my $pair ([ $n1, $n2 ], [ $n2, $n1 ])
{
	my ($writer, $reader) = @$pair;
	my $row = sql($writer, q{SELECT registers FROM mantis_stores ORDER BY octet_length(registers) DESC LIMIT 1});
	like($row, qr/^\\x[0-9a-f]+$/, $writer->name . ' has a row in mantis_stores');
	my $here = decode($writer, $row);
	ok($here ne '', $writer->name . "'s row holds registers");
	is(decode($reader, $row), $here,
		'a row written by ' . $writer->name . ' (' . sql($writer, 'SHOW server_version_num')
		  . ') decodes the same on ' . $reader->name . ' (' . sql($reader, 'SHOW server_version_num') . ')');
}

# --- a dump of the 15 server restored on the later version ----------------
my $fresh = mantis_node('r1', "jit = off\n");
my $dump = "$PostgreSQL::Test::Utils::tmp_check/n1.dump";
# the later version's pg_dump, as an upgrade by dump and restore uses
$n2->command_ok([ 'pg_dump', '-Fc', '-t', 'mantis_stores', '--data-only', '-f', $dump,
		'-d', $n1->connstr('postgres') ], 'pg_dump of the 15 server\'s mantis_stores');
$fresh->command_ok([ 'pg_restore', '-d', $fresh->connstr('postgres'), $dump ],
	"restored into a fresh $new_major server");
$fresh->poll_query_until('postgres', q{SELECT count(*) > 100 FROM mantis_registers(true)})
  or die 'the restored rows were never merged';
ok(wait_converged($n1, $fresh), "the $new_major server restored from 15's rows has 15's registers, HLCs and markers");

$_->stop for (@all, $fresh);
done_testing();
