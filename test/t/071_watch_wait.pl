# mantis_wait() (issue 21, "Tests"): woken by a local write and by a
# replicated one, returning the row; not by a write under another prefix;
# no rows at its timeout; ended cleanly by pg_cancel_backend,
# statement_timeout and a client going away, the session (or the server)
# usable after; inside a transaction; deletions and expiries, local and
# replicated, as deleted = true.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use MantisTest;
use MantisWatch;

my $c = mantis_cluster(2, q{
mantis.sync_interval = '200ms'
mantis.flush_interval = '100ms'
mantis.peer_timeout = '2s'
});
my ($n1, $n2) = @{ $c->{nodes} }[ 1, 2 ];

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }
sub cursor { my ($n) = @_; return sql($n, 'SELECT mantis_cursor()') }

# a wait of at most 60 s for changes under prefix after the node's cursor now
sub wait_for
{
	my ($n, $prefix, %o) = @_;
	my $since = $o{since} // cursor($n);
	my $timeout = $o{timeout} // '60 s';
	my $w = start_wait($n, ($o{before} // '') .
		  qq{SELECT key, coalesce(value, '<deleted>'), deleted, node FROM mantis_wait('$since', '$prefix', '$timeout')});
	wait_sleeping($w) or die "the wait for $prefix never slept";
	return $w;
}

sub ended_within
{
	my ($w, $seconds, $name) = @_;
	my ($out, $err) = finish_wait($w, $w->{keep});
	my $took = time() - $w->{started};    # since the write, or the expiry
	ok($took < $seconds, "$name (in " . sprintf('%.2f', $took) . " s)");
	return ($out, $err);
}

wait_peers_connected(1, $n1, $n2);

# --- woken by a local write, and by a replicated one ------------------------------
my $w = wait_for($n1, 'w.local.');
$w->{started} = time();    # the write's time, not the wait's
sql($n1, q{SELECT mantis_set('w.local.x', 'here')});
my ($out, $err) = ended_within($w, 5, 'a wait on n1 ends at a write on n1');
is($out, 'w.local.x|here|f|n1', '... returning its row');

$w = wait_for($n2, 'w.repl.');
$w->{started} = time();
sql($n1, q{SELECT mantis_set('w.repl.x', 'from n1')});
($out, $err) = ended_within($w, 5, 'a wait on n2 ends at a write on n1');
is($out, 'w.repl.x|from n1|f|n1', '... returning the replicated row');

# --- not by another prefix; no rows at the timeout ---------------------------------
$w = wait_for($n1, 'w.quiet.', timeout => '2 s');
sql($n1, q{SELECT mantis_set('w.loud', 'other prefix')});
sql($n2, q{SELECT mantis_set('w.loud2', 'other prefix')});
($out, $err) = finish_wait($w);
my $took = time() - $w->{started};
is($out, '', 'a write under another prefix does not end the wait: no rows at the timeout');
ok($took >= 2, sprintf('... after the 2 s (%.2f s)', $took));
is($err, '', '... and no error');

# --- pg_cancel_backend ------------------------------------------------------------
$w = wait_for($n1, 'w.none.');
$w->{keep} = 1;
sql($n1, "SELECT pg_cancel_backend($w->{pid})");
($out, $err) = ended_within($w, 30, 'pg_cancel_backend ends a wait');
like($err, qr/canceling statement due to user request/, '... as a cancel');
my $bg = $w->{bg};
is($bg->query_safe('SELECT 41 + 1'), '42', 'the session is usable after');
# and its next wait sleeps and wakes as the first did (its slot was cleared)
my $since = cursor($n1);
$bg->{stdin} .= qq{SELECT key FROM mantis_wait('$since', 'w.after.cancel', '60 s');\n\\echo 'watch: done'\n\\warn 'watch: done'\n};
$bg->{run}->pump_nb;
$w->{started} = time();
wait_sleeping($w) or die 'the second wait never slept';
$w->{started} = time();
sql($n1, q{SELECT mantis_set('w.after.cancel', 'v')});
($out, $err) = ended_within($w, 5, 'a wait in the same session after the cancel wakes at a write');
is($out, 'w.after.cancel', '... with its row');

# --- statement_timeout ---------------------------------------------------------------
$bg->query_safe(q{SET statement_timeout = '500ms'});
$since = cursor($n1);
$bg->{stdin} .= qq{SELECT key FROM mantis_wait('$since', 'w.none.', '60 s');\n\\echo 'watch: done'\n\\warn 'watch: done'\n};
$w->{started} = time();
$w->{keep} = 0;
$bg->{run}->pump_nb;
($out, $err) = finish_wait($w, 1);
$took = time() - $w->{started};
like($err, qr/canceling statement due to statement timeout/, 'statement_timeout ends a wait');
ok($took < 30, sprintf('... at once (%.2f s)', $took));
$bg->query_safe('RESET statement_timeout');
is($bg->query_safe(q{SELECT count(*) FROM mantis_wait(mantis_cursor(), 'w.none.', '0')}), '0',
	'the session is usable after');
$bg->quit;

# --- a client going away -----------------------------------------------------------------
$w = wait_for($n1, 'w.none.', before => q{SET client_connection_check_interval = '100ms';});
$w->{bg}{run}->kill_kill;
ok($n1->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $w->{pid}"),
	'a client going away ends its wait (with client_connection_check_interval)');

# --- inside a transaction ---------------------------------------------------------------
$w = wait_for($n1, 'w.txn.', before => 'BEGIN;');
$w->{keep} = 1;
$w->{started} = time();
sql($n2, q{SELECT mantis_set('w.txn.x', 'in a transaction')});
($out, $err) = ended_within($w, 5, 'a wait inside a transaction wakes at a replicated write');
is($out, 'w.txn.x|in a transaction|f|n2', '... with its row');
is($w->{bg}->query_safe('COMMIT'), '', 'and the transaction commits');
$w->{bg}->quit;

# --- deletions and expiries: deleted = true --------------------------------------------
sql($n1, q{SELECT mantis_set('w.del.k', 'doomed')});
$n2->poll_query_until('postgres', q{SELECT mantis_get('w.del.k') IS NOT NULL}) or die 'n2 never got w.del.k';
my @waits = (wait_for($n1, 'w.del.'), wait_for($n2, 'w.del.'));
$_->{started} = time() for @waits;
sql($n1, q{SELECT mantis_delete('w.del.k')});
for my $x (@waits)
{
	($out, $err) = ended_within($x, 5, 'a wait on ' . $x->{node}->name . ' ends at a deletion on n1');
	is($out, 'w.del.k|<deleted>|t|n1', '... returning the key deleted');
}
# the expiry: each server's sweep notes it (the waits' cursors are taken
# while the value lives: 4 s leaves room for a slow machine)
sql($n1, q{SELECT mantis_set('w.exp.k', 'brief', interval '4 seconds')});
my $expires = time() + 4;
$n2->poll_query_until('postgres', q{SELECT mantis_get('w.exp.k') IS NOT NULL}) or die 'n2 never got w.exp.k';
@waits = map { wait_for($_, 'w.exp.') } $n1, $n2;
ok(sql($n1, q{SELECT mantis_get('w.exp.k') IS NOT NULL}) eq 't', 'both waits sleep before the expiry');
for my $x (@waits)
{
	$x->{started} = $expires;
	($out, $err) = ended_within($x, 4, 'a wait on ' . $x->{node}->name . ' ends at the expiry');
	is($out, 'w.exp.k|<deleted>|t|n1', '... returning the key deleted');
}
is(feed($n2, undef, 'w.exp.')->{n}, 0, 'an expired key is in no snapshot');

$_->stop for $n1, $n2;
done_testing();
