# mantis_status tells the truth about collection when mantis.peers is not
# what the rules expect (issue 18, operator review):
#  - a server whose mantis.peers lists its own mantis.listen warns and
#    leaves it out, so it counts itself once, the others' sets agree with
#    its, and it collects by acknowledgement;
#  - a server that no peer lists back (n1 lists n2, n2 lists nobody) must not
#    claim "by acknowledgement" unless acknowledgements move its collection
#    horizon: it says which peer it waits for.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $c = mantis_cluster(2, qq{
mantis.sync_interval = '500ms'
mantis.flush_interval = '100ms'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub status
{
	my ($n) = @_;
	return sql($n, q{SELECT collection || ' / ' || members || ' / ' || coalesce(collection_horizon::text, '-') FROM mantis_status});
}

# --- n1 lists its own endpoint beside n2's -------------------------------------
my $self = "tcp://127.0.0.1:$c->{zmq}[1]";
my $to2 = "tcp://127.0.0.1:$c->{proxy}{'1>2'}[0]";
my $log_at = -s $n1->logfile;
sql($n1, qq{ALTER SYSTEM SET mantis.peers = '$self,$to2'; SELECT pg_reload_conf()});
ok($n1->wait_for_log(qr/lists this server's own address \Q$self\E; ignoring it/, $log_at),
	'n1 warns that mantis.peers lists its own address');
is(sql($n1, qq{SELECT count(*) FROM mantis_peers WHERE endpoint = '$self'}), '0',
	'n1 has no peer row for its own address');
for my $n ($n1, $n2)
{
	ok($n->poll_query_until('postgres', q{SELECT collection = 'by acknowledgement' AND members = 2 FROM mantis_status}),
		$n->name . ': two members, collection by acknowledgement, though n1 lists itself')
	  or diag(status($n));
}
# and acknowledgements do collect: a deletion's marker goes on both
sql($n1, q{SELECT mantis_set('self.k', 'v')});
$n2->poll_query_until('postgres', q{SELECT mantis_get('self.k') = 'v'}) or die 'self.k never reached n2';
sql($n1, q{SELECT mantis_delete('self.k')});
my $held = q{SELECT NOT EXISTS (SELECT FROM mantis_registers('self.k', true) WHERE key = 'self.k')};
ok($_->poll_query_until('postgres', $held), $_->name . ': the marker of self.k is collected by acknowledgement')
  for ($n1, $n2);

# --- n2 lists nobody: n1 reaches n2, n2 only answers ------------------------------
sql($n1, qq{ALTER SYSTEM SET mantis.peers = '$to2'; SELECT pg_reload_conf()});
sql($n2, q{ALTER SYSTEM SET mantis.peers = ''; SELECT pg_reload_conf()});
$n2->restart;
$n1->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mantis_peers WHERE state = 'connected'})
  or die 'n1 did not reconnect to n2';
sql($n1, q{SELECT mantis_set('one.k', 'v')});
$n2->poll_query_until('postgres', q{SELECT mantis_get('one.k') = 'v'}) or die 'one.k never reached n2';
my $t = sql($n1, q{SELECT now()});
# n1 acknowledges n2's writes through a time past $t: greetings went both
# ways since, and n2 would have acknowledged n1's by now if it ever does
$n2->poll_query_until('postgres',
	qq{SELECT coalesce(acknowledged > '$t', false) FROM mantis_peers WHERE node_name = 'n1'})
  or die 'n1 never acknowledged past ' . $t;
# (n2, listing nobody, greets n1 only in answers: it never acknowledges)
for my $n ($n1, $n2)
{
	is(sql($n, qq{SELECT CASE WHEN collection = 'by acknowledgement'
			THEN coalesce(collection_horizon > '$t', false)
			ELSE collection LIKE 'lifetime only: %' END FROM mantis_status}), 't',
		$n->name . ': "by acknowledgement" only while acknowledgements move the horizon')
	  or diag(status($n));
	note($n->name . ': ' . status($n));
}
like(sql($n1, q{SELECT collection FROM mantis_status}), qr/^lifetime only: waiting for a peer's acknowledgement \(n2\)$/,
	'n1 names n2, which never acknowledges');

$_->stop for ($n1, $n2);
done_testing();
