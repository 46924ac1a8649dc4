# Several clients setting and getting the same 10,000 keys at once see
# consistent registers: never a torn value, never another key's value, and
# afterwards every key reads back exactly what mantis_registers() lists.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $node = mantis_node('n1', "mantis.max_keys = 20000\n");

# Each transaction writes key k with a value "k/client/len/x...x" (no colons:
# pgbench would take ":x" for a variable), carrying a payload of a stated length, then reads k back and divides by zero unless the
# value it reads is well-formed for k (another client may have written it
# since, but never a value of another key or a torn one).
# A fixed number of transactions, not a time: 40,000 draws of 10,000 keys
# leave about 183 unwritten (1 - e^-4 of them written), 13 either way, so
# the count below depends on no machine's speed.
$node->pgbench(
	'--no-vacuum --client=4 --jobs=4 --transactions=10000 --protocol=prepared',
	0,
	[qr{processed: [1-9]\d*}],
	[qr{^$}],
	'4 clients set and get 10k keys',
	{
		'001_mix' => q{
\set k random(1, 10000)
\set len random(0, 300)
SELECT mantis_set('load.' || (:k)::text, (:k)::text || '/' || (:client_id)::text || '/' || (:len)::text || '/' || repeat('x', (:len)::int));
SELECT 1 / (v ~ ('^' || (:k)::text || '/\d+/\d+/x*$') AND length(split_part(v, '/', 4)) = split_part(v, '/', 3)::int)::int
  FROM mantis_get('load.' || (:k)::text) v;
}
	});

my $summary = $node->safe_psql(
	'postgres', q{
SELECT count(*),
       count(*) FILTER (WHERE value !~ ('^' || substr(key, 6) || '/')),
       count(*) FILTER (WHERE mantis_get(key) IS DISTINCT FROM value)
  FROM mantis_registers() WHERE key LIKE 'load.%'});
my ($keys, $foreign, $mismatch) = split /\|/, $summary;
cmp_ok($keys, '>', 9000, "most of the 10k keys were written ($keys)");
cmp_ok($keys, '<=', 10000, 'no keys beyond the 10k written');
is($foreign, 0, 'every value belongs to its key');
is($mismatch, 0, 'mantis_get agrees with mantis_registers for every key');

# the clock stayed strictly increasing across the four backends
my $dups = $node->safe_psql('postgres',
	q{SELECT count(*) - count(DISTINCT hlc) FROM mantis_registers(true)});
is($dups, 0, 'no two registers share an HLC');

# a restart leaves the server healthy and the store usable
$node->restart;
is($node->safe_psql('postgres', q{SELECT mantis_set('after.restart', 'ok') IS NULL}),
	't', 'set works after a restart (and waits for COMMIT: NULL)');
is($node->safe_psql('postgres', q{SELECT mantis_get('after.restart')}),
	'ok', 'get works after a restart');

$node->stop;
done_testing();
