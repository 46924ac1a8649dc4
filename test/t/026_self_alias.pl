# A server whose mantis.peers lists itself under another address than its
# mantis.listen (an operator's review) must count itself once, as when it
# lists mantis.listen itself (024).  The usual case: every server gets the
# same list of all servers' addresses from configuration management, and
# listens on tcp://*:PORT, or its peers list names a host name, a NAT or a
# proxy in front of it; here a TCP proxy to n1's own endpoint stands for
# them.  The README says: "A server listed in its own mantis.peers is
# recognised by its incarnation and ignored."  At fc19002 n1 does recognise
# itself ("peer (inbound) is this server itself; ignoring it"), but keeps the
# entry as a listed peer that never says its name: it counts three members,
# mantis_status.collection says "lifetime only: a listed peer has not
# answered (tcp://...)" for ever, n2 says "peers count other members (n1)",
# and neither collects by acknowledgement: every deletion marker waits for
# mantis.tombstone_lifetime (an hour by default) on both.
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

sub status { my ($n) = @_; return sql($n, q{SELECT collection || ' / ' || members FROM mantis_status}) }

for my $n ($n1, $n2)
{
	ok($n->poll_query_until('postgres', q{SELECT collection = 'by acknowledgement' FROM mantis_status}),
		$n->name . ' collects by acknowledgement');
}

# --- n1 lists itself through another address (a proxy to its endpoint) -------
my $alias_port = PostgreSQL::Test::Cluster::get_free_port();
start_proxy($alias_port, $c->{zmq}[1]);
my $alias = "tcp://127.0.0.1:$alias_port";
my $to2 = "tcp://127.0.0.1:$c->{proxy}{'1>2'}[0]";
my $log_at = -s $n1->logfile;
sql($n1, qq{ALTER SYSTEM SET mantis.peers = '$alias,$to2'; SELECT pg_reload_conf()});
ok($n1->wait_for_log(qr/is this server itself; ignoring it/, $log_at),
	'n1 recognises itself behind the other address');

# a greeting of each server after that: each acknowledges the other again
for my $n ($n1, $n2)
{
	my $t = sql($n, q{SELECT clock_timestamp()});
	$n->poll_query_until('postgres', qq{SELECT acknowledged > '$t'::timestamptz FROM mantis_peers
	                                   WHERE state = 'connected'})
	  or die $n->name . ' was acknowledged nothing since';
}
is(status($n1), 'by acknowledgement / 2', 'n1 counts itself once and collects by acknowledgement');
is(status($n2), 'by acknowledgement / 2', 'n2 collects by acknowledgement');

stop_proxy($alias_port);
$_->stop for ($n1, $n2);
done_testing();
