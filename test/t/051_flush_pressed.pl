# A store running out of room flushes sooner (persist/worker.c,
# flush_is_pressed()).  A peer acknowledges only the registers it has
# flushed, so with everyone up the flush interval is most of the wait
# between an expiry and its room; with the store three quarters full and
# dead registers waiting, each server flushes every 100 ms instead.
#
# Two servers with mantis.max_keys = 1000 and mantis.flush_interval = 1h
# collect by acknowledgement (each flushed by hand until they do); then n1
# sets 800 one-second keys (80 % of the store).  Their room comes back only if both servers flush again:
# n2 to acknowledge n1's registers, n1 to acknowledge what n2 holds of its
# own writes.  Without the pressed flush neither flushes for an hour (and
# the lifetime is an hour): the wait times out.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $keys = 800;
my $c = mantis_cluster(2, q{
mantis.max_keys = 1000
mantis.flush_interval = '1h'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];
my @all = ($n1, $n2);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

# Collection by acknowledgement begins once both have flushed what they
# hold of each other: flush by hand until it has (periodic flushes are an
# hour apart)
wait_peers_connected(1, @all);
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
while (1)
{
	sql($_, 'SELECT mantis_flush()') for @all;
	last if 2 == grep { sql($_, q{SELECT collection_horizon IS NOT NULL FROM mantis_status}) eq 't' } @all;
	die 'no collection horizon on both servers' if time() > $deadline;
	select(undef, undef, undef, 0.1);	# between two polls, as poll_query_until
}
my %flushed = map { $_->name => sql($_, q{SELECT last_flush FROM mantis_status}) } @all;

is(sql($n1, qq{SELECT count(*) FROM (SELECT mantis_set('p' || i, 'v', interval '1 second')
                 FROM generate_series(1, $keys) i) s}), $keys, "n1 set $keys one-second keys");

for my $n (@all)
{
	ok($n->poll_query_until('postgres',
			qq{SELECT collected_expired = $keys
			          AND keys + expired_keys + deleted_keys = 0 FROM mantis_status}),
		$n->name . " collected the $keys expired registers, its store three quarters full, though flushes were an hour apart");
	isnt(sql($n, q{SELECT last_flush FROM mantis_status}), $flushed{ $n->name },
		$n->name . ' flushed within the hour');
}

$_->stop for @all;
done_testing();
