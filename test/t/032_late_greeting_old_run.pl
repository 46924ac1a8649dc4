# The greeting of a peer's previous run read after its new run's must not
# set the refusal horizon the new run's answers are measured against (an
# operator's attack on f6d3785).  n1 and n2 hold a1..a100, flushed; a
# deletion collected by acknowledgement raises both refusal horizons past
# them.  The proxy of n2's own connection to n1 keeps n2's greetings (HELLO)
# back; n2 restarts -m immediate with a smaller mantis.max_keys, so its new
# run B holds most keys back and announces a lower refusal horizon, while
# the last HELLO of its previous run A waits in the network (the proxy keeps
# A's connection to n1 up, as TCP delivers what a process sent before it
# died) and B's own connections to n1 are refused.  n1 reads B's WELCOME
# and completes rounds with B; then A's HELLO is delivered, and B's next
# WELCOMEs are held, so that A's is the last greeting n1 read.  n1 must not
# adopt by A's refusal horizon what B lacks: it adopts nothing and keeps
# every key, and once B's limit is raised both hold all 100.  (Before
# c108d77, n1 adopted 68 keys away, and n2 gave them up too: lost on both.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MantisTest;

my $c = mantis_cluster(2, qq{
mantis.sync_interval = '200ms'
mantis.peer_timeout = '60s'
mantis.flush_interval = '100ms'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1 .. 2 ];
my @all = ($n1, $n2);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

sub a_count
{
	my ($n) = @_;
	return sql($n, q{SELECT count(*) FROM mantis_registers('a', false) WHERE key ~ '^a[0-9]+$'});
}

sub rounds { return sql($n1, q{SELECT repair_rounds FROM mantis_peers WHERE node_name = 'n2'}) }

wait_loaded($_) for @all;
wait_peers_connected(1, @all);

sql($n1, q{SELECT count(mantis_set('a' || g, 'value ' || g)) FROM generate_series(1, 100) g});
sql($n1, q{SELECT mantis_set('d', 'x')});
$n2->poll_query_until('postgres', q{SELECT mantis_get('d') = 'x'}) or die;
sql($n1, q{SELECT mantis_delete('d')});
for my $n (@all)
{
	$n->poll_query_until('postgres',
		q{SELECT refusal_horizon IS NOT NULL AND deleted_keys = 0 AND keys = 100 FROM mantis_status})
	  or die $n->name . ': d not collected';
	sql($n, q{SELECT mantis_flush()});
}
my $r = rounds();
$n1->poll_query_until('postgres', qq{SELECT repair_rounds > $r + 1 FROM mantis_peers WHERE node_name = 'n2'}) or die;
is(sql($n1, q{SELECT adopted FROM mantis_peers WHERE node_name = 'n2'}), '0', 'n1 adopted nothing so far');

# --- n2's greetings to n1 kept; B, with fewer keys, greets by n1's connection --
my $port21 = $c->{proxy}{'2>1'}[0];
hold_requests($c, 2, 1, 'HELLO');
wait_proxy_log($port21, qr/^held HELLO$/);
refuse_connections($c, 2, 1, 1);
$n2->append_conf('postgresql.conf', "mantis.max_keys = 32\n");
PostgreSQL::Test::Utils::system_or_bail('pg_ctl', '-w', '-D', $n2->data_dir,
	'-l', $n2->logfile, '-m', 'immediate', 'restart');
$n2->_update_pid(1);
$n2->poll_query_until('postgres', q{SELECT persistence = 'ready' AND held_back > 0 FROM mantis_status})
  or die 'n2 did not load, holding registers back';
$r = rounds();
$n1->poll_query_until('postgres', qq{SELECT repair_rounds > $r FROM mantis_peers WHERE node_name = 'n2'})
  or die 'n1 completed no round with run B';
is(sql($n1, q{SELECT adopted FROM mantis_peers WHERE node_name = 'n2'}), '0', 'n1 adopted nothing from run B');

# --- A's HELLO arrives after B's greeting; B's next ones are held ------------
hold_answers($c, 1, 2, 'WELCOME');
release_answers($c, 2, 1);
# n1 answered it (to A, gone): n1 has read the greeting of run A
wait_proxy_log($port21, qr/^orphaned WELCOME$/);
ok(1, 'n1 read the greeting of run A after the greeting of run B');
$r = rounds();
# enough rounds for B to send again what it held back from its answers
# (n1 refused it before; backoff up to 64 rounds)
$n1->poll_query_until('postgres',
	qq{SELECT adopted > 0 OR repair_rounds > $r + 80 FROM mantis_peers WHERE node_name = 'n2'})
  or die 'n1 completed no more rounds with n2';
note('n1: ' . sql($n1, q{SELECT format('adopted %s, rounds %s, registers %s, collection %s', p.adopted, p.repair_rounds, s.keys, s.collection) FROM mantis_peers p, mantis_status s WHERE p.node_name = 'n2'}));
is(sql($n1, q{SELECT adopted FROM mantis_peers WHERE node_name = 'n2'}), '0',
	'n1 adopted nothing by the refusal horizon of run A');
sql($n1, q{SELECT mantis_flush()});
is(a_count($n1), '100', 'n1 still holds a1..a100');

# --- B's greetings and connections let through, n2's limit raised -------------
release_answers($c, 1, 2);
refuse_connections($c, 2, 1, 0);
$n2->append_conf('postgresql.conf', "mantis.max_keys = 100000\n");
$n2->restart;
wait_loaded($n2);
ok(wait_converged(@all), 'n2 converges with n1');
is(a_count($n2), '100', 'n2 holds a1..a100');
is(a_count($n1), '100', 'and so does n1');

$_->stop for @all;
done_testing();
