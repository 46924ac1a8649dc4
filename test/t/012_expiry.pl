# Expiry (mantis_set ... ttl, mantis_expire, mantis_ttl) and the collection
# of deletion markers and expired registers, on three real servers whose
# links run through TCP proxies: a key expires on every server at the
# instant its writer computed, within mantis.max_clock_offset; it survives a
# restart before that instant and stays gone after one; an expiry set on one
# side of a partition holds on the other after healing, and a later write
# without ttl beats it; with every peer present, markers and expired
# registers are collected within seconds; and a node partitioned for longer
# than mantis.tombstone_lifetime does not bring back a key the others
# collected.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MantisTest;

my $t_start = time();
my $c = mantis_cluster(3, qq{
mantis.sync_interval = '1s'
mantis.peer_timeout = '2s'
mantis.flush_interval = '200ms'
});
my ($n1, $n2, $n3) = @{ $c->{nodes} }[ 1 .. 3 ];
my @all = ($n1, $n2, $n3);

sub sql { my ($n, $q) = @_; return $n->safe_psql('postgres', $q) }

# expires_at of a key's live register on a node, as epoch seconds: 'none'
# when it has no expiry, '' when the node lists no live register for it
sub expires_at
{
	my ($n, $key) = @_;
	return sql($n, qq{SELECT coalesce(extract(epoch FROM expires_at)::text, 'none')
	                    FROM mantis_registers('$key') WHERE key = '$key'});
}

# a fast restart, then wait until the store is loaded
sub restart_loaded
{
	my ($n) = @_;
	$n->restart;
	$n->poll_query_until('postgres', q{SELECT persistence = 'ready' FROM mantis_status})
	  or die $n->name . ' did not load its store';
}

sub status { my ($n, $col) = @_; return sql($n, "SELECT $col FROM mantis_status") }

sub wait_all
{
	my ($q, @nodes) = @_;
	for my $n (@nodes) { $n->poll_query_until('postgres', $q) or return 0 }
	return 1;
}

my $offset = sql($n1, q{SELECT extract(epoch FROM current_setting('mantis.max_clock_offset')::interval)});

# watch(nodes, [label, live expression, expiry epoch], ...): sample every node
# (its own clock_timestamp() around the expression) until every expression
# is false there; each sample must be live before expiry - offset and not
# live after expiry + offset.  Returns the violations, and notes how late
# after the expiry each node first read it gone.
sub watch
{
	my ($nodes, @watches) = @_;
	my (@bad, %gone);
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	my $q = 'SELECT extract(epoch FROM clock_timestamp()) || \'|\' || '
	  . join(" || '|' || ", map { "CASE WHEN $_->[1] THEN 't' ELSE 'f' END" } @watches)
	  . ' || \'|\' || extract(epoch FROM clock_timestamp())';
	while (time() < $deadline)
	{
		my $pending = 0;
		for my $n (@$nodes)
		{
			next unless grep { !defined $gone{ $n->name }{ $_->[0] } } @watches;
			my ($t0, @rest) = split /\|/, sql($n, $q);
			my $t1 = pop @rest;
			for my $i (0 .. $#watches)
			{
				my ($label, undef, $exp) = @{ $watches[$i] };
				next if defined $gone{ $n->name }{$label};
				if ($rest[$i] eq 't')
				{
					push @bad, sprintf('%s: %s live %.3f s after its expiry', $n->name, $label, $t0 - $exp)
					  if $t0 > $exp + $offset;
					$pending++;
				}
				else
				{
					push @bad, sprintf('%s: %s gone %.3f s before its expiry', $n->name, $label, $exp - $t1)
					  if $t1 < $exp - $offset;
					$gone{ $n->name }{$label} = $t1 - $exp;
				}
			}
		}
		last unless $pending;
		usleep(10_000);
	}
	for my $n (@$nodes)
	{
		for my $w (@watches)
		{
			my $late = $gone{ $n->name }{ $w->[0] };
			push @bad, $n->name . ": $w->[0] never read gone" unless defined $late;
			note(sprintf('%s read %s gone %+.0f ms after its expiry', $n->name, $w->[0], 1000 * $late))
			  if defined $late;
		}
	}
	return @bad;
}

for my $n (@all)
{
	$n->poll_query_until('postgres', q{SELECT count(*) = 2 FROM mantis_peers WHERE state = 'connected'})
	  or die $n->name . ' did not connect to its peers';
}
pass('every node is connected to the two others');

# --- 1. a 2 s ttl: readable everywhere until the instant, gone after ------
sql($n1, q{SELECT mantis_set('p1.text', 'hello', ttl => interval '2 s'),
                  mantis_set('p1.flag', true, ttl => interval '2 s')});
my %exp1 = map { ($_ => expires_at($n1, $_)) } qw(p1.text p1.flag);
ok(($exp1{'p1.text'} // '') =~ /^\d/ && ($exp1{'p1.flag'} // '') =~ /^\d/, 'the writer lists expires_at for both keys');
for my $n (@all)
{
	$n->poll_query_until('postgres', q{SELECT mantis_get('p1.text') IS NOT NULL AND mantis_get('p1.flag', false)})
	  or die $n->name . ' never read p1';
	# one query, before the expiry: the values, mantis_ttl, expires_at, and
	# whether the server's clock was still before expiry - max_clock_offset
	is(sql($n, qq{SELECT (clock_timestamp() < to_timestamp($exp1{'p1.text'}) - interval '$offset s')::text
	                   || '|' || (mantis_get('p1.text') = 'hello' AND mantis_get('p1.flag', false))::text
	                   || '|' || (mantis_ttl('p1.text') > interval '0' AND mantis_ttl('p1.text') <= interval '2 s'
	                         AND mantis_ttl('p1.flag') > interval '0' AND mantis_ttl('p1.flag') <= interval '2 s')::text
	                   || '|' || string_agg(extract(epoch FROM expires_at)::text, '|' ORDER BY key DESC)
	                 FROM mantis_registers('p1.')}),
		"true|true|true|$exp1{'p1.text'}|$exp1{'p1.flag'}",
		$n->name . " reads both keys before expiry - offset, mantis_ttl in (0, 2 s], the writer's expires_at");
}
my @bad = watch(\@all,
	[ 'p1.text', q{mantis_get('p1.text') IS NOT NULL}, $exp1{'p1.text'} ],
	[ 'p1.flag', q{mantis_get('p1.flag', false)}, $exp1{'p1.flag'} ]);
is(scalar(@bad), 0, "every node hides both keys at their expiry, within ${offset} s")
  or diag(join("\n", @bad));
for my $n (@all)
{
	is(sql($n, q{SELECT mantis_get('p1.text') IS NULL AND mantis_get('p1.flag', NULL::boolean) IS NULL
	                AND mantis_ttl('p1.text') IS NULL AND mantis_ttl('p1.flag') IS NULL
	                AND NOT mantis_get('p1.flag', false)}),
		't', $n->name . ': after expiry both read NULL (the typed one its default), mantis_ttl NULL');
	is(sql($n, q{SELECT count(*) FROM mantis_registers('p1.')}), '0', $n->name . ': mantis_registers hides them');
}

# --- 2. a restart before the expiry keeps it; after, it stays gone --------
sql($n1, q{SELECT mantis_set('p2.k', 'kept', ttl => interval '30 s')});
my $exp2 = expires_at($n1, 'p2.k');
ok($n2->poll_query_until('postgres', q{SELECT mantis_get('p2.k') = 'kept'}), 'n2 has p2.k');
restart_loaded($n2);
is(sql($n2, q{SELECT mantis_get('p2.k')}), 'kept', 'after a restart before its expiry n2 still reads p2.k');
is(expires_at($n2, 'p2.k'), $exp2, 'with the same expires_at');
is(sql($n1, q{SELECT mantis_expire('p2.k', interval '2 s')}), 't', 'mantis_expire shortens it to 2 s on n1');
is(sql($n1, q{SELECT mantis_expire('p2.nothing', interval '2 s')}), 'f', 'and returns false for a key with no value');
my $exp2b = expires_at($n1, 'p2.k');
cmp_ok($exp2b, '<', $exp2, 'the new expires_at is earlier');
ok(wait_all(qq{SELECT extract(epoch FROM expires_at)::text = '$exp2b' FROM mantis_registers('p2.k')}, @all),
	'every node holds the new expiry');
my %coll2 = map { ($_->name => status($_, 'collected_expired')) } ($n1, $n3);
@bad = watch(\@all, [ 'p2.k', q{mantis_get('p2.k') IS NOT NULL}, $exp2b ]);
is(scalar(@bad), 0, 'p2.k expires everywhere at the new instant') or diag(join("\n", @bad));
restart_loaded($n2);
is(sql($n2, q{SELECT mantis_get('p2.k') IS NULL AND mantis_ttl('p2.k') IS NULL}), 't',
	'a restart after the expiry does not bring p2.k back on n2');
ok(wait_all(q{SELECT expired_keys = 0 FROM mantis_status}, @all), 'every node collects the expired register');
ok(wait_all(q{SELECT count(*) = 0 FROM mantis_registers('p2.', true)}, @all), 'and holds nothing of p2.k');
cmp_ok(status($_, 'collected_expired'), '>', $coll2{ $_->name }, $_->name . ': collected_expired grew')
  for ($n1, $n3);
note('n2 restarted after the expiry: collected_expired ' . status($n2, 'collected_expired') . ' since its start');

# --- 3. an expiry set on one side of a partition, and a later write -------
sql($n1, q{SELECT mantis_set('p3.exp', 'e', ttl => interval '1 hour'), mantis_set('p3.win', 'w', ttl => interval '1 hour')});
my $old3 = expires_at($n1, 'p3.exp');
ok(wait_all(q{SELECT count(*) = 2 FROM mantis_registers('p3.')}, @all), 'p3 keys everywhere');
isolate($c, 3);
sql($n1, q{SELECT mantis_expire('p3.exp', interval '12 s'), mantis_expire('p3.win', interval '1 hour')});
my $exp3 = expires_at($n1, 'p3.exp');
my $hlc1 = sql($n1, q{SELECT hlc FROM mantis_registers('p3.win') WHERE key = 'p3.win'});
# n3 writes once its clock has passed n1's write: its HLC is then greater
my $t1 = substr($hlc1, 0, 24);
$n3->poll_query_until('postgres', qq{SELECT clock_timestamp() > '$t1'::timestamptz + interval '1 ms'})
  or die "n3's clock never passed $t1";
sql($n3, q{SELECT mantis_set('p3.win', 'from n3')});
my $hlc3 = sql($n3, q{SELECT hlc FROM mantis_registers('p3.win') WHERE key = 'p3.win'});
cmp_ok($hlc3, 'gt', $hlc1, "n3's write during the partition has the greater HLC");
ok($n2->poll_query_until('postgres',
	qq{SELECT extract(epoch FROM expires_at)::text = '$exp3' FROM mantis_registers('p3.exp')}),
	'n2, on the same side, gets the shorter expiry');
is(expires_at($n3, 'p3.exp'), $old3, 'n3, cut off, keeps the old one');
rejoin($c, 3);
ok($n3->poll_query_until('postgres',
	qq{SELECT extract(epoch FROM expires_at)::text = '$exp3' FROM mantis_registers('p3.exp')}),
	'after healing n3 holds the expiry set on n1');
ok(wait_converged(@all), 'the three converge');
is(expires_at($_, 'p3.exp'), $exp3, $_->name . ': p3.exp expires at the same instant') for @all;
is(sql($_, q{SELECT value || '|' || node || '|' || coalesce(expires_at::text, 'none') || '|'
               || coalesce(mantis_ttl('p3.win')::text, 'none') FROM mantis_registers('p3.win')}),
	'from n3|n3|none|none', $_->name . ': the later write without ttl wins, its expiry gone') for @all;
@bad = watch(\@all, [ 'p3.exp', q{mantis_get('p3.exp') IS NOT NULL}, $exp3 ]);
is(scalar(@bad), 0, 'n3, and the others, hide p3.exp at that instant') or diag(join("\n", @bad));

# --- 4. collection with every peer present ----------------------------------
sql($n1, q{SELECT count(mantis_set('p4.del.' || i, 'v')) FROM generate_series(1, 100) i});
ok(wait_all(q{SELECT count(*) = 100 FROM mantis_registers('p4.del.')}, @all), '100 keys everywhere');
my %base4 = map { ($_->name => [ split /\|/, status($_, q{collected_deletions || '|' || collected_expired}) ]) } @all;
sql($n1, q{SELECT count(mantis_delete('p4.del.' || i)) FROM generate_series(1, 100) i});
sql($n1, q{SELECT count(mantis_set('p4.exp.' || i, 'v', ttl => interval '1 s')) FROM generate_series(1, 100) i});
for my $n (@all)
{
	my ($d, $e) = @{ $base4{ $n->name } };
	# (one query: a marker a peer sends back before its own sweep is held
	# again for a moment, and collected again)
	ok($n->poll_query_until('postgres',
		qq{SELECT deleted_keys = 0 AND expired_keys = 0 AND collected_deletions >= $d + 100
		          AND collected_expired >= $e + 100
		          AND (SELECT count(*) FROM mantis_registers('p4.', true)) = 0 FROM mantis_status}),
		$n->name . ': 100 markers and 100 expired registers collected, nothing of them held');
	is(sql($n, q{SELECT count(*) FILTER (WHERE acknowledged > clock_timestamp() - interval '5 s')
	               || '/' || count(*) FROM mantis_peers WHERE direction = 'outbound'}),
		'2/2', $n->name . ': both peers acknowledged our writes within 5 s');
	isnt(status($n, 'collection_horizon'), '', $n->name . ': collection_horizon is set');
}

# --- 5. no resurrection after a partition longer than the lifetime --------
for my $n (@all)
{
	sql($n, q{ALTER SYSTEM SET mantis.tombstone_lifetime = '3s'; SELECT pg_reload_conf()});
	$n->poll_query_until('postgres', q{SELECT current_setting('mantis.tombstone_lifetime') = '3s'})
	  or die 'tombstone_lifetime not reloaded';
}
sql($n1, q{SELECT mantis_set('p5.k', 'old')});
ok(wait_all(q{SELECT mantis_get('p5.k') = 'old'}, $n2, $n3), 'p5.k everywhere');
isolate($c, 3);
# a marker kept for n3 may have become a record first (R7): counted then in
# collected_records
my %base5 = map { ($_->name => status($_, 'collected_deletions + collected_records')) } ($n1, $n2);
sql($n1, q{SELECT mantis_delete('p5.k')});
ok($n2->poll_query_until('postgres', q{SELECT mantis_get('p5.k') IS NULL}), 'n2 sees the deletion');
for my $n ($n1, $n2)
{
	ok($n->poll_query_until('postgres', q{SELECT NOT EXISTS (SELECT FROM mantis_registers('p5.k', true))}),
		$n->name . ' drops the marker after the lifetime, without n3');
}
for my $n ($n1, $n2)
{
	# the sweep counts what it collected as it drops it: a few seconds at most
	ok($n->poll_query_until('postgres',
			qq{SELECT collected_deletions + collected_records > $base5{$n->name} AND refusal_horizon IS NOT NULL FROM mantis_status}),
		$n->name . ' counts it collected (collected_deletions, or collected_records, grew) and has a refusal_horizon')
	  or diag($n->name . ': ' . sql($n, q{SELECT row_to_json(s) FROM mantis_status s}));
}
restart_loaded($n3);
is(sql($n3, q{SELECT mantis_get('p5.k')}), 'old', 'n3, restarted while cut off, still reads p5.k');
my $refused = sub { sql($n1, q{SELECT refused_collected FROM mantis_status}) + sql($n2, q{SELECT refused_collected FROM mantis_status}) };
my $r0 = $refused->();
my $k_gone = sub { join '', map { sql($_, q{SELECT mantis_get('p5.k') IS NULL}) } @_ };
my $bad5 = 0;
# poll(cond): wait for cond, checking at every step that n1 and n2 read p5.k NULL
my $poll = sub
{
	my ($cond) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (time() < $deadline)
	{
		if ((my $g = $k_gone->($n1, $n2)) ne 'tt')
		{
			$bad5++;
			diag(sprintf('%s read p5.k as %s', $g eq 'ft' ? 'n1' : $g eq 'tf' ? 'n2' : 'n1 and n2',
				join(' / ', map { sql($_, q{SELECT row_to_json(r) FROM mantis_registers('p5.k') r}) } $n1, $n2)));
		}
		return 1 if $cond->();
		usleep(100_000);
	}
	return 0;
};
rejoin($c, 3);
# the first repair round between n3 and n1 or n2 settles p5.k: the puller
# n1/n2 refuses n3's copy, and n3 as the puller gives it up (the returner
# converges: replication/horizon.c, replication/repair.c); either proves a round ran
ok($poll->(sub { $refused->() > $r0 || sql($n3, q{SELECT count(*) FROM mantis_registers('p5.k', true)}) eq '0' }),
	'after healing, a repair round with n3 ran (n1/n2 refused its copy of p5.k, or n3 gave it up)');
ok($poll->(sub { sql($n3, q{SELECT count(*) FROM mantis_registers('p5.k', true)}) eq '0' }),
	'n3, the returner, gives up p5.k too');
like(slurp_file($n3->logfile), qr/gives up \d+ registers that peer \S+ has collected/, 'and logs it');
ok(wait_converged(@all), 'the three converge');
note('refused_collected on n1 + n2: ' . ($refused->() - $r0) . ', '
	. join(', ', map { my $q = q{SELECT coalesce(sum(rejected_collected), 0) FROM mantis_peers WHERE node_name = 'n3'};
		$_->name . ' rejected_collected from n3 ' . sql($_, $q) } $n1, $n2));
# three more repair rounds, each proven by a key n3 can only get from one:
# written on n1 while n1 counts n3 down (its live frames to n3 are dropped)
for my $i (1 .. 3)
{
	isolate($c, 3);
	$n1->poll_query_until('postgres', q{SELECT state = 'down' FROM mantis_peers WHERE node_name = 'n3' AND direction = 'outbound'})
	  or die 'n1 never counted n3 down';
	sql($n1, qq{SELECT mantis_set('p5.round', '$i')});
	rejoin($c, 3);
	ok($poll->(sub { sql($n3, q{SELECT mantis_get('p5.round')}) eq $i }), "repair round $i brings n3 a key written while it was cut off");
	is($k_gone->($n3), 't', "n3 reads p5.k NULL after round $i");
}
is($bad5, 0, 'p5.k read NULL on n1 and n2 all along');
for my $n (@all)
{
	is(sql($n, q{SELECT count(*) FROM mantis_registers('p5.k', true)}), '0',
		$n->name . ' holds nothing of p5.k, not even a marker');
}

# --- no crash anywhere --------------------------------------------------------
for my $n (@all)
{
	unlike(slurp_file($n->logfile), qr/PANIC|terminated by signal/, $n->name . ' logged no crash');
}
$_->stop for @all;
note(sprintf('total %.0f s', time() - $t_start));
done_testing();
