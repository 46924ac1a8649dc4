# The checker of the fault test (MantisHistory.pm, which decides whether
# test/t/005_faults.pl passes), on small synthetic histories and no server:
# a clean history passes, and each violation planted in it (a lost
# acknowledged write, a register holding another value under a write's HLC,
# a register or a read of a value nobody wrote, HLCs going back, a read
# after a deletion or an expiry, a register held after its expiry, nodes
# that did not converge, a write sent to a server whose postmaster was seen
# dead acknowledged) is reported as exactly that problem; the writes of a
# renamed node are its writer's under either name.  Near misses
# (a loss a crash excuses, a read of a deleted value on another node within
# the replication allowance or during a fault, a read while limits are
# lowered, a stale read) are not problems.
#
# The histories are writer logs in test/fault/writer.c's format, read by
# read_writer_log, and the final registers are what the last write of each
# key by HLC leaves (register_dump below), as registers_dump_expiry lists
# them, changed where a case plants a violation.
use strict;
use warnings;

use POSIX qw(strftime);
use Test::More;
use MantisHistory;

my %NODE_ID = (n1 => '00000000000000a1', n2 => '00000000000000b2', n3 => '00000000000000c3');
# n3 renamed (mantis.node_name) in some cases: it then writes as n3-r1
my %RENAMED_ID = ('n3-r1' => '00000000000000d4');
my %NAME_OF = reverse(%NODE_ID, %RENAMED_ID);
my $T0 = 1_900_000_000;    # the histories' time 0, in Unix seconds
my $FINAL_TIME = 10;       # when the registers are dumped
my %OPTIONS = (offset => 0.5, replication => 4, window => 1.5);
my @PROBLEMS = qw(diverged lost mismatch phantom hlc_order expired read_deleted read_expired
  acked_dead);

# ms(s) — the Unix milliseconds of time s of a history
sub ms { my ($s) = @_; return sprintf('%.0f', ($T0 + $s) * 1000) }

# hlc(node, s) — the text form of an HLC of that node (or renamed node) at
# time s
sub hlc
{
	my ($node, $s) = @_;
	my $ms = ms($s);
	return strftime('%Y-%m-%dT%H:%M:%S', gmtime(int($ms / 1000)))
	  . sprintf('.%03dZ-0000-%s', $ms % 1000, $NODE_ID{$node} // $RENAMED_ID{$node});
}

# Events of a history, each an array:
#   [ ok => node, s, op, key, value, ttl_ms, hlc ]  a write attempted at s -
#       1 ms and acknowledged at s, with the HLC of its node at s unless
#       given; op set, ttl (value, ttl_ms: expires at s + ttl), del (a
#       deletion: no value)
#   [ unknown => node, s, op, key, value ]  a write whose outcome is unknown
#   [ read => node, s, key, value ]  a read sent at s, answered 1 ms later
#       (value undef: NULL)

# log_lines(event) — the writer log lines of one event
sub log_lines
{
	my ($kind, $node, $s, @e) = @_;
	if ($kind eq 'read')
	{
		my ($key, $value) = @e;
		return sprintf('read %s %s %s %s', $key, $value // '<null>', ms($s), ms($s + 0.001));
	}
	my ($op, $key, $value, $ttl, $hlc) = @e;
	$value //= '<deleted>';
	my @lines = sprintf('attempt %s %s %s %s %s', $op, $key, $value, $ttl // '-', ms($s - 0.001));
	push @lines, $kind eq 'ok'
	  ? sprintf('ok %s %s %s %s %s %s', $op, $key, $value, $hlc // hlc($node, $s),
		$op eq 'ttl' ? ms($s + $ttl / 1000) : '-', ms($s))
	  : sprintf('unknown %s %s %s %s', $op, $key, $value, ms($s));
	return @lines;
}

# registers(events) — key => the register the last acknowledged write of
# the key by HLC leaves: { value (undef: a deletion marker), hlc, node (the
# name of the HLC's node id), expires (s) }
sub registers
{
	my %reg;
	for (grep { $_->[0] eq 'ok' } @_)
	{
		my (undef, $node, $s, $op, $key, $value, $ttl, $hlc) = @$_;
		$hlc //= hlc($node, $s);
		next if $reg{$key} && $reg{$key}{hlc} ge $hlc;
		$reg{$key} = { value => $value, hlc => $hlc, node => $NAME_OF{ (split /-/, $hlc)[-1] },
			expires => $op eq 'ttl' ? $s + $ttl / 1000 : undef };
	}
	return \%reg;
}

# register_dump(registers) — as registers_dump_expiry lists them at
# FINAL_TIME: "key|value|hlc|node|expiry", a register past its expiry as
# <expired>
sub register_dump
{
	my ($reg) = @_;
	return join("\n", map {
		my $r = $reg->{$_};
		my $expired = defined $r->{expires} && $r->{expires} < $FINAL_TIME;
		join('|', $_, $expired ? '<expired>' : $r->{value} // '<deleted>', $r->{hlc}, $r->{node},
			defined $r->{expires} ? ms($r->{expires}) : '-')
	} sort keys %$reg);
}

# The clean history: shared and own keys, a write beaten by a greater HLC,
# an expiring write run out, a deletion, a probe, and reads of the newest
# values, of a value before its expiry, and of a deleted key.
my @CLEAN = (
	[ ok => n1 => 1.00, set => 'f.1', 'n1.1' ],
	[ ok => n2 => 1.10, set => 'f.1', 'n2.1' ],
	[ ok => n1 => 1.20, ttl => 'u.n1.2', 'n1.2', 300 ],
	[ ok => n3 => 1.30, del => 'f.2' ],
	[ ok => n1 => 1.40, set => 'u.n1.3', 'n1.3' ],
	[ unknown => n2 => 1.45, set => 'f.3', 'n2.2' ],
	[ read => n1 => 1.50, 'u.n1.3', 'n1.3' ],
	[ read => n2 => 1.60, 'f.1', 'n2.1' ],
	[ read => n1 => 1.70, 'u.n1.2', 'n1.2' ],
	[ read => n3 => 1.80, 'f.2', undef ],
	[ ok => n3 => 1.90, set => 'u.n3.1', 'n3.1' ],
);
my %PROBE = ('nemesis.probe.n2' => { 'n2.probe1' => 'n2' });
my %PROBE_REGISTER =
  ('nemesis.probe.n2' => { value => 'n2.probe1', hlc => hlc(n2 => 0.5), node => 'n2' });

# check(case) — check_history on the clean history with the case's events
# added (events), its final registers changed by change(registers), on every
# node unless dumps(dump) gives each node's, with its crashes, faults and
# renames (times in s); returns the result.
sub check
{
	my (%case) = @_;
	my @events = (@CLEAN, @{ $case{events} // [] });
	my %logs;
	for my $node (sort keys %NODE_ID)
	{
		my $text = join('', map { "$_\n" } map { log_lines(@$_) } grep { $_->[1] eq $node } @events);
		$logs{$node} = read_writer_log(\$text, $node);
	}
	my $reg = { %{ registers(@events) }, %PROBE_REGISTER };
	$case{change}->($reg) if $case{change};
	my $dump = register_dump($reg);
	my $at = sub {
		[ map { { %$_, from => $T0 + $_->{from}, to => $T0 + $_->{to},
			  defined $_->{dead} ? (dead => $T0 + $_->{dead}) : () } } @{ $_[0] // [] } ] };
	return check_history(%OPTIONS,
		dumps => $case{dumps} ? $case{dumps}->($dump) : { map { $_ => $dump } sort keys %NODE_ID },
		finals => $dump,
		final_time => $T0 + $FINAL_TIME,
		node_ids => \%NODE_ID,
		logs => \%logs,
		probes => \%PROBE,
		crashes => $at->($case{crashes}),
		faults => $at->($case{faults}),
		renames => $at->($case{renames}));
}

# problems(result) — kind => count, of the kinds that have any
sub problems
{
	my ($r) = @_;
	return { map { $r->{"n_$_"} ? ($_ => $r->{"n_$_"}) : () } @PROBLEMS };
}

# is_verdict(case, expected problems, name, counts) — the case has exactly
# these problems, and these counts; shows its problems if not
sub is_verdict
{
	my ($case, $expect, $name, %counts) = @_;
	my $r = check(%$case);
	my $ok = is_deeply(problems($r), $expect, $name);
	is($r->{$_}, $counts{$_}, "$name: $_ $counts{$_}") for sort keys %counts;
	diag(join("\n", map { "$_: @{ $r->{$_} }" } grep { @{ $r->{$_} } } @PROBLEMS)) unless $ok;
	return $r;
}

# --- a clean history passes --------------------------------------------------
my $r = is_verdict({}, {}, 'the clean history has no problem',
	ok => 6, survived => 5, beaten => 1, read => 4, reads_checked => 3, reads_null => 1,
	stale => 0, registers => 6);
my $log = join("\n", '# connected', log_lines(ok => n1 => 0, set => 'f.1', 'n1.1'),
	log_lines(read => n1 => 0.1, 'f.1', 'n1.1'), '');
is_deeply(read_writer_log(\$log, 'n1'), [
		{ kind => 'attempt', op => 'set', key => 'f.1', value => 'n1.1', ttl => undef,
			t => $T0 - 0.001, line => 2, node => 'n1' },
		{ kind => 'ok', op => 'set', key => 'f.1', value => 'n1.1', hlc => hlc(n1 => 0),
			t => $T0, line => 3, node => 'n1' },
		{ kind => 'read', key => 'f.1', value => 'n1.1', start => $T0 + 0.1,
			t => $T0 + 0.101, line => 4, node => 'n1' } ],
	'read_writer_log reads the writer log lines the cases are made of');

# --- planted violations ------------------------------------------------------
# lost: an acknowledged write whose key has no register
is_verdict({ events => [ [ ok => n2 => 2.0, set => 'u.n2.9', 'n2.9' ] ],
		change => sub { delete $_[0]{'u.n2.9'} } },
	{ lost => 1 }, 'an acknowledged write with no register left is lost');
# lost: the register of the key has a smaller HLC (the write went back)
is_verdict({ events => [ [ ok => n3 => 2.0, set => 'f.1', 'n3.9' ] ],
		change => sub { $_[0]{'f.1'} = { value => 'n2.1', hlc => hlc(n2 => 1.10), node => 'n2' } } },
	{ lost => 1 }, 'an acknowledged write whose key holds an older register is lost');
# ... unless its node crashed within the window after it
is_verdict({ events => [ [ ok => n2 => 2.0, set => 'u.n2.9', 'n2.9' ] ],
		change => sub { delete $_[0]{'u.n2.9'} },
		crashes => [ { node => 'n2', kind => 'kill_postmaster', from => 3.0, to => 3.2 } ] },
	{}, 'a write lost by a crash of its node within the window is excused', excused => 1);

# acked_dead: a write sent to a server after its postmaster was seen dead
# (killed at 3.0, seen dead at 3.004, the server down until 3.5) was
# acknowledged; one sent before it died, acknowledged after the kill, is
# not, nor one acknowledged by the server started again
my @killed = ({ node => 'n2', kind => 'kill_postmaster', from => 3.0, dead => 3.004, to => 3.5 });
is_verdict({ events => [ [ ok => n2 => 3.1, set => 'u.n2.9', 'n2.9' ] ], crashes => \@killed },
	{ acked_dead => 1 }, 'a write sent after its postmaster was seen dead and acknowledged is acked_dead');
is_verdict({ events => [ [ ok => n2 => 3.011, set => 'u.n2.9', 'n2.9' ] ], crashes => \@killed },
	{ acked_dead => 1 }, 'so is one sent 6 ms after');
is_verdict({ events => [ [ ok => n2 => 3.003, set => 'u.n2.9', 'n2.9' ] ], crashes => \@killed },
	{}, 'a write sent before the postmaster was seen dead may be acknowledged after the kill');
is_verdict({ events => [ [ ok => n2 => 3.6, set => 'u.n2.9', 'n2.9' ] ], crashes => \@killed },
	{}, 'a write acknowledged once the server is up again is no problem');

# mismatch: the register with an acknowledged write's HLC holds another value
is_verdict({ events => [ [ unknown => n1 => 2.0, set => 'f.4', 'n1.8' ],
			[ ok => n1 => 2.1, set => 'f.4', 'n1.9' ] ],
		change => sub { $_[0]{'f.4'}{value} = 'n1.8' } },
	{ mismatch => 1 }, 'a register holding another value under an acknowledged HLC is a mismatch');

# phantom: a register, a read of a value nobody attempted
is_verdict({ change => sub { $_[0]{'f.9'} = { value => 'n3.99', hlc => hlc(n3 => 2.0), node => 'n3' } } },
	{ phantom => 1 }, 'a register holding a value nobody wrote is a phantom');
is_verdict({ events => [ [ read => n2 => 2.0, 'f.1', 'n3.42' ] ] },
	{ phantom => 1 }, 'a read of a value nobody wrote is a phantom');

# hlc_order: a writer acknowledged an HLC smaller than its previous one
is_verdict({ events => [ [ ok => n3 => 2.0, set => 'u.n3.2', 'n3.2' ],
			[ ok => n3 => 2.1, set => 'u.n3.3', 'n3.3', undef, hlc(n3 => 1.95) ] ] },
	{ hlc_order => 1 }, 'HLCs going back on one writer are out of order');

# read_deleted: a read of a value after its deletion was acknowledged
my @deleted = ([ ok => n1 => 2.0, set => 'u.n1.12', 'n1.12' ], [ ok => n1 => 2.1, del => 'u.n1.12' ]);
is_verdict({ events => [ @deleted, [ read => n1 => 2.2, 'u.n1.12', 'n1.12' ] ] },
	{ read_deleted => 1 }, 'a read after a deletion acknowledged on its node is a read of a deleted key');
is_verdict({ events => [ @deleted, [ read => n2 => 7.0, 'u.n1.12', 'n1.12' ] ] },
	{ read_deleted => 1 }, 'a read on another node after the replication allowance is a read of a deleted key');
is_verdict({ events => [ @deleted, [ read => n2 => 5.0, 'u.n1.12', 'n1.12' ] ] },
	{}, 'a read on another node within the replication allowance is no problem');
is_verdict({ events => [ @deleted, [ read => n2 => 7.0, 'u.n1.12', 'n1.12' ] ],
		faults => [ { node => 'n2', kind => 'partition', from => 4.0, to => 5.0 } ] },
	{}, 'a fault of the reader before the allowance ran out extends it');
is_verdict({ events => [ @deleted, [ read => n1 => 2.2, 'u.n1.12', 'n1.12' ] ],
		faults => [ { node => 'n1', kind => 'lower_limits', from => 2.15, to => 2.5 } ] },
	{}, 'a read on a node running with limits lowered is not checked', reads_limited => 1);

# read_expired: a read of a value after its expiry, or after a later
# expiring write ran out
is_verdict({ events => [ [ ok => n1 => 2.0, ttl => 'u.n1.13', 'n1.13', 300 ],
			[ read => n1 => 3.0, 'u.n1.13', 'n1.13' ] ] },
	{ read_expired => 1 }, 'a read after its acknowledged expiry + offset is a read of an expired value');
is_verdict({ events => [ [ ok => n1 => 2.0, ttl => 'u.n1.13', 'n1.13', 300 ],
			[ read => n1 => 2.7, 'u.n1.13', 'n1.13' ] ] },
	{}, 'a read after the expiry but within the clock offset is no problem');
is_verdict({ events => [ [ ok => n1 => 2.0, set => 'u.n1.14', 'n1.14' ],
			[ ok => n1 => 2.1, ttl => 'u.n1.14', 'n1.15', 300 ],
			[ read => n1 => 3.0, 'u.n1.14', 'n1.14' ] ] },
	{ read_expired => 1 }, 'a read of a value hidden by a later expiring write run out is a read of an expired value');

# expired: a register still holding a value whose ttl ran out
is_verdict({ events => [ [ ok => n1 => 2.0, ttl => 'u.n1.16', 'n1.16', 300 ] ],
		change => sub { $_[0]{'u.n1.16'}{expires} = undef } },
	{ expired => 1 }, 'a register holding a value past its expiry is expired');

# stale: a read of a value after a later plain write is counted, not a problem
is_verdict({ events => [ [ read => n2 => 2.0, 'f.1', 'n1.1' ] ] },
	{}, 'a read of a value a later plain write replaced is stale, not a problem', stale => 1);

# diverged: the nodes' dumps differ
$r = is_verdict({ dumps => sub {
			my ($d) = @_;
			return { n1 => $d, n2 => $d, n3 => join("\n", grep { !/^f\.1\|/ } split /\n/, $d) };
		} },
	{ diverged => 1 }, 'a node lacking a register the others hold did not converge');
like($r->{diverged}[0], qr/^n3 differs from n1: f\.1: f\.1\|n2\.1\|.* \/ none$/, 'the difference names the node and the key');
is_verdict({ dumps => sub { my ($d) = @_; return { n1 => $d, n2 => "$d\n", n3 => $d } } },
	{ diverged => 1 }, 'dumps that differ only in their listing did not converge');

# a renamed node: what its server acknowledged under its former name (old
# node id, registers showing the old name) and under its new one is its
# writer's
my @RENAME = ({ node => 'n3', name => 'n3-r1', id => $RENAMED_ID{'n3-r1'}, from => 2.0, to => 2.2 });
my @renamed = ([ ok => n3 => 1.95, set => 'u.n3.20', 'n3.20' ],
	[ ok => n3 => 2.5, set => 'u.n3.21', 'n3.21', undef, hlc('n3-r1' => 2.5) ],
	[ ok => n3 => 2.6, set => 'f.6', 'n3.22', undef, hlc('n3-r1' => 2.6) ],
	[ ok => n3 => 2.7, del => 'u.n3.20', undef, undef, hlc('n3-r1' => 2.7) ]);
is_verdict({ events => \@renamed, renames => \@RENAME },
	{}, 'the writes of a renamed node, under its former name and its new one, are its writer\'s',
	survived => 8, beaten => 2);
is_verdict({ events => \@renamed, renames => \@RENAME,
		change => sub { $_[0]{'u.n3.20'}{node} = '00000000000000d4' } },
	{}, 'a register may show its node id in hex (a server that never learned the name)');
is_verdict({ events => \@renamed, renames => \@RENAME, change => sub { $_[0]{'f.6'}{node} = 'n3' } },
	{ mismatch => 1, phantom => 1 },
	'a register written under the new name but showing the former name is a mismatch (and a phantom)');
is_verdict({ events => [ $renamed[1] ] },
	{ phantom => 2, mismatch => 1 },
	'an HLC of a node id its writer\'s server never had is a phantom, acknowledged or held');
is_verdict({ events => [ @renamed, [ ok => n3 => 2.8, set => 'u.n3.23', 'n3.23', undef, hlc(n3 => 2.8) ] ],
		renames => \@RENAME },
	{ hlc_order => 1 }, 'an HLC under the former name after one under the new name is out of order');

done_testing();
