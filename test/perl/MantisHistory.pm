# MantisHistory.pm — the checker of the Jepsen-style test
# (test/t/005_faults.pl): reads the writers' logs (test/fault/writer.c) into
# histories, and checks them against the registers the cluster ends with.
# Pure data: it needs no server, and loading it starts or changes nothing
# (test/t/013_checker.pl plants violations in synthetic histories).
package MantisHistory;

use strict;
use warnings;

use Time::HiRes qw(time);

use Exporter 'import';
our @EXPORT = qw(read_writer_log check_history);

# read_writer_log(path, node name) — the operations of one writer's log, in
# order, as hashes: kind (attempt, ok, fail, unknown, read, read-fail,
# read-unknown), and for writes op (set, ttl, del: mantis_delete, null:
# mantis_set(key, NULL)), key, value (undef for a deletion), ttl (ms, for an
# attempted ttl write), hlc (ok; undef when the writer could not read it
# back), expires (ok of a ttl write: the expiry in Unix seconds as read back,
# or undef), sqlstate (fail); for reads key, value (undef: NULL), start (Unix
# seconds when sent); t (Unix seconds when logged), line, node.
sub read_writer_log
{
	my ($path, $name) = @_;
	my @ops;
	open(my $fh, '<', $path) or die "cannot open $path: $!";
	while (my $l = <$fh>)
	{
		next if $l =~ /^#/;
		chomp $l;
		my @f = split / /, $l;
		die "$path:$.: truncated or malformed line: $l"
		  unless @f >= 4 && $f[-1] =~ /^\d+$/;
		my %op = (kind => $f[0], t => $f[-1] / 1000, line => $., node => $name);
		my $undash = sub { $_[0] eq '-' ? undef : $_[0] };
		if ($op{kind} =~ /^read/)
		{
			# read <key> <value|<null>> <start> <ms>, read-fail <key> <sqlstate>
			# <start> <ms>, read-unknown <key> <start> <ms>
			my $n = { read => 5, 'read-fail' => 5, 'read-unknown' => 4 }->{ $op{kind} };
			die "$path:$.: malformed line: $l" unless $n && @f == $n && $f[-2] =~ /^\d+$/;
			$op{key} = $f[1];
			$op{start} = $f[-2] / 1000;
			$op{value} = $f[2] eq '<null>' ? undef : $f[2] if $op{kind} eq 'read';
			$op{sqlstate} = $f[2] if $op{kind} eq 'read-fail';
			push @ops, \%op;
			next;
		}
		my $n = { attempt => 6, ok => 7, fail => 6, unknown => 5 }->{ $op{kind} };
		die "$path:$.: unknown line: $l" unless $n;
		die "$path:$.: malformed line: $l"
		  unless @f == $n && $f[1] =~ /^(set|ttl|del|null)$/;
		$op{op} = $f[1];
		$op{key} = $f[2];
		$op{value} = $f[3] eq '<deleted>' ? undef : $f[3];
		if ($op{kind} eq 'attempt') { $op{ttl} = $undash->($f[4]) }
		elsif ($op{kind} eq 'ok')
		{
			$op{hlc} = $undash->($f[4]);
			my $e = $undash->($f[5]);
			$op{expires} = $e / 1000 if defined $e;
		}
		elsif ($op{kind} eq 'fail') { $op{sqlstate} = $f[4] }
		push @ops, \%op;
	}
	close $fh;
	return \@ops;
}

# ---------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------

# hlc_node(hlc) — the node id part of an HLC's text form
sub hlc_node { my ($h) = @_; return lc((split /-/, $h)[-1]) }

# is_deletion(op) — a write that leaves a deletion marker
sub is_deletion { my ($op) = @_; return $op->{op} eq 'del' || $op->{op} eq 'null' }

my $NEVER = 9**9**9;    # +inf

# check_history(%a) — check the writers' histories against the final
# registers, and what the writers read against what they wrote.  Arguments:
#   finals     => dump text of the converged registers (registers_dump_expiry:
#                 "key|value|hlc|node|expiry"; or without the expiry)
#   final_time => when they were dumped (Unix seconds)
#   node_ids   => { node name => node id in hex }
#   logs       => { node name => ops from read_writer_log }
#   probes     => { key => { value => node name } }: other writes made (the
#                 nemesis's probes), accepted as the origin of a register
#   crashes    => the nemesis's crashes (each gets lost => the number of
#                 losses it excused, oldest => the age in seconds of the
#                 oldest of them at the crash; negative: acknowledged after)
#   window     => seconds before a crash in which an acknowledged write of the
#                 crashed node may be lost (flush interval + margin)
#   faults     => the nemesis's faults ({ node, kind, from, to })
#   offset     => mantis.max_clock_offset, in seconds
#   replication => seconds within which a write acknowledged by one node
#                 is on every other one when no fault touches either (the
#                 allowance of the read check across nodes, see below)
# Returns a hash of counts, and of lists of problems (at most 20 each).
#
# An acknowledged write is final when the final register has its HLC (and
# its value and node), beaten when the final register has a greater HLC;
# an acknowledged ttl write is also final when the final register is its
# register, expired (same HLC, node and expiry); an acknowledged deletion,
# and an acknowledged ttl write whose expiry (+ offset) is before
# final_time, also when the key has no register at all (its marker, or its
# expired register, was collected), and any write is beaten when the key has no
# register and a deletion or a ttl write of the key that may have left
# nothing behind (acknowledged with a greater HLC, or of unknown outcome)
# exists.  Anything else (a smaller HLC, or no register for no reason) is
# lost, unless excused by a crash of its node.  A final register holding a
# value written with a ttl whose expiry passed is "expired".
#
# The reads: a read of key k on node M, sent at time t, that returned value
# v, written by an acknowledged write W (HLC h), is wrong when
#   - W had a ttl and its acknowledged expiry + offset < t (read_expired), or
#   - an acknowledged write X of k with an HLC > h happened before the read,
#     and X is a deletion (read_deleted) or a ttl write whose expiry + offset
#     < t (read_expired): LWW then hides v on M for good.
# X happened before the read when it was acknowledged by M itself before t
# (the same writer, before it sent the read), or, from another node A, when
# t > the replication deadline of X: its acknowledgement + the replication
# allowance, extended, while a fault of A or M (partition, pause, crash,
# restart...; from its injection until healed) overlaps the interval, to that
# fault's healing + the allowance.  X possibly lost by a crash (acknowledged
# by its node in the window before one) is no evidence.  Reads of v after a
# later plain write X happened before them are counted as stale (a note,
# not a check).  A read value nobody wrote is a phantom.  Reads on a node
# while it runs with limits lowered (a lower_limits fault of that node, from
# its injection until healed) are not checked: that start holds back every
# register larger than the limit, and serves, for a key, the newest one it
# could load - an older, short value - by design (README, Persistence).
sub check_history
{
	my %a = @_;
	my %r = (ok => 0, fail => 0, unknown => 0, attempt => 0, registers => 0,
		survived => 0, beaten => 0, excused => 0, excused_by => {},
		vanished => 0, beaten_gone => 0, no_hlc => 0,
		read => 0, 'read-fail' => 0, 'read-unknown' => 0, reads_checked => 0,
		reads_null => 0, reads_limited => 0, stale => 0, stale_examples => [],
		ttl_acked => 0, del_acked => 0);
	my @problems = qw(lost mismatch phantom hlc_order expired read_deleted read_expired);
	$r{$_} = [] for @problems;
	my $note = sub {
		my ($what, $text) = @_;
		$r{"n_$what"}++;
		push @{ $r{$what} }, $text if @{ $r{$what} } < 20;
	};
	$r{"n_$_"} = 0 for @problems;
	my $offset = $a{offset} // 0.5;
	my $final_time = $a{final_time} // time();
	my $allow = $a{replication} // 4;

	my %final;
	for my $l (split /\n/, $a{finals} // '')
	{
		my ($k, $v, $h, $n, $e) = split /\|/, $l, -1;
		$final{$k} = {
			value => $v =~ /^<(deleted|expired)>$/ ? undef : $v,
			expired => $v eq '<expired>',
			expires => defined $e && $e ne '-' ? $e / 1000 : undef,
			hlc => $h,
			node => $n };
		$r{registers}++;
		$r{final_dead}++ unless defined $final{$k}{value};
	}

	# the ttl write's expiry passed at the final dump; without an expiry read
	# back, from the ttl asked and a second of slack
	my $expired_at_end = sub {
		my ($w) = @_;
		return defined $w->{expires}
		  ? $w->{expires} + $offset < $final_time
		  : $w->{t} + $w->{ttl} / 1000 + $offset + 1 < $final_time;
	};
	my %crashes_of;    # node => its crashes
	push @{ $crashes_of{ $_->{node} } }, $_ for @{ $a{crashes} };
	my $possibly_lost = sub {    # the first crash that may have lost it
		my ($w) = @_;
		for (@{ $crashes_of{ $w->{node} } // [] })
		{
			return $_ if $w->{t} >= $_->{from} - $a{window} && $w->{t} <= $_->{to};
		}
		return undef;
	};

	# what every writer attempted, acknowledged, and saw fail
	my (%attempted, %ttl_attempt, %ttl_by, %deleted_by, %acked, %failed_loading,
		%writes, %maybe_gone, @reads);
	for my $name (sort keys %{ $a{logs} })
	{
		my $prev;    # this writer's previous acknowledged HLC
		my $pending;    # the attempt whose outcome comes next
		for my $op (@{ $a{logs}{$name} })
		{
			$r{ $op->{kind} }++;
			my $k = $op->{key};
			if ($op->{kind} eq 'attempt')
			{
				if (defined $op->{value}) { $attempted{$k}{ $op->{value} } = $name }
				else { $deleted_by{$k}{$name} = 1 }
				if ($op->{op} eq 'ttl')
				{
					$ttl_attempt{$k}{ $op->{value} } = $op;
					$ttl_by{$k}{$name} = 1;
				}
				$pending = $op;
				next;
			}
			if ($op->{kind} eq 'read')
			{
				push @reads, $op;
				next;
			}
			next if $op->{kind} =~ /^read/;
			my $ttl = $pending && $pending->{key} eq $k ? $pending->{ttl} : undef;
			undef $pending;
			my $gone_kind = is_deletion($op) || $op->{op} eq 'ttl';
			if ($op->{kind} eq 'ok')
			{
				$r{ttl_acked}++ if $op->{op} eq 'ttl';
				$r{del_acked}++ if is_deletion($op);
				if (!defined $op->{hlc})
				{
					# a deletion whose marker a peer's write replaced before
					# the writer read it back: nothing to check it against
					$r{no_hlc}++;
					$maybe_gone{$k}++ if $gone_kind;
					next;
				}
				$acked{$k}{ $op->{value} } = $op->{hlc} if defined $op->{value};
				push @{ $writes{$k} }, { %$op, ttl => $ttl // 0 };
				if (defined $prev && $op->{hlc} le $prev)
				{
					$note->('hlc_order', sprintf(
						'%s line %d at %.3f: ok HLC %s after %s',
						$name, $op->{line}, $op->{t}, $op->{hlc}, $prev));
				}
				$prev = $op->{hlc};
			}
			elsif ($op->{kind} eq 'fail' && $op->{sqlstate} eq '55000')
			{
				# "mantis is loading": refused before any change
				$failed_loading{$k}{ $op->{value} } = 1 if defined $op->{value};
			}
			else
			{
				# failed (perhaps after the write, in its read-back) or unknown
				$maybe_gone{$k}++ if $gone_kind;
			}
		}
	}

	for my $k (keys %{ $a{probes} // {} })
	{
		$attempted{$k}{$_} = $a{probes}{$k}{$_} for keys %{ $a{probes}{$k} };
	}

	# (2) every acknowledged write survives or is beaten by a greater HLC
	for my $k (sort keys %writes)
	{
		my $f = $final{$k};
		# the greatest HLC of an acknowledged write of k that leaves nothing
		my $gone_hlc = '';
		for (@{ $writes{$k} })
		{
			$gone_hlc = $_->{hlc}
			  if $_->{hlc} gt $gone_hlc
			  && (is_deletion($_) || ($_->{op} eq 'ttl' && $expired_at_end->($_)));
		}
		for my $op (@{ $writes{$k} })
		{
			my $name = $op->{node};
			my $v = $op->{value} // '<deleted>';
			my $gone = is_deletion($op) || ($op->{op} eq 'ttl' && $expired_at_end->($op));
			if ($f && $f->{hlc} eq $op->{hlc} && $f->{expired})
			{
				# the register expired, not yet collected: that of this
				# write if it had a ttl, from this node, with this expiry
				if ($op->{op} ne 'ttl' || $f->{node} ne $name
					|| (defined $op->{expires} && defined $f->{expires}
						&& abs($op->{expires} - $f->{expires}) > 0.0015))
				{
					$note->('mismatch', sprintf(
						'%s %s %s=%s at %s%s, but the register with that HLC is one from %s that expired%s',
						$name, $op->{op}, $k, $v, $op->{hlc},
						defined $op->{expires} ? sprintf(' expiring at %.3f', $op->{expires}) : '',
						$f->{node}, defined $f->{expires} ? sprintf(' at %.3f', $f->{expires}) : ''));
				}
				else { $r{survived}++ }
			}
			elsif ($f && $f->{hlc} eq $op->{hlc})
			{
				if (($f->{value} // '<deleted>') ne $v || $f->{node} ne $name)
				{
					$note->('mismatch', sprintf(
						'%s %s=%s at %s, but the register with that HLC holds %s from %s',
						$name, $k, $v, $op->{hlc},
						$f->{value} // '<deleted>', $f->{node}));
				}
				elsif ($op->{op} eq 'ttl' && $gone) { }    # "expired" below
				else { $r{survived}++ }
			}
			elsif ($f && $f->{hlc} gt $op->{hlc})
			{
				$r{beaten}++;
			}
			elsif (!$f && $gone)
			{
				$r{survived}++;
				$r{vanished}++;
			}
			elsif (!$f && ($maybe_gone{$k} || $gone_hlc gt $op->{hlc}))
			{
				$r{beaten}++;
				$r{beaten_gone}++;
			}
			else
			{
				my $crash = $possibly_lost->($op);
				if ($crash)
				{
					my $age = $crash->{from} - $op->{t};
					$r{excused}++;
					$r{excused_by}{ $crash->{kind} }++;
					$crash->{lost}++;
					$crash->{oldest} = $age
					  if !defined $crash->{oldest} || $age > $crash->{oldest};
				}
				else
				{
					$note->('lost', sprintf(
						'%s line %d, %s acked at %.3f: %s=%s %s%s; final: %s',
						$name, $op->{line}, $op->{op}, $op->{t}, $k, $v, $op->{hlc},
						defined $op->{expires} ? sprintf(' expiring %.3f', $op->{expires}) : '',
						$f ? "$f->{hlc} " . ($f->{value} // '<deleted>') : 'none'));
				}
			}
		}
	}

	# (3) every final register was written by a writer, with its node's HLC;
	# none holds a value whose ttl ran out
	for my $k (sort keys %final)
	{
		my $f = $final{$k};
		my $id = $a{node_ids}{ $f->{node} } // '?';
		my $writer;
		if (defined $f->{value})
		{
			$writer = $attempted{$k}{ $f->{value} };
			if (!defined $writer)
			{
				$note->('phantom', "$k=$f->{value} $f->{hlc}: no writer attempted it");
				next;
			}
			my $acked_hlc = $acked{$k}{ $f->{value} };
			$note->('phantom', "$k=$f->{value}: acknowledged with $acked_hlc, held with $f->{hlc}")
			  if defined $acked_hlc && $acked_hlc ne $f->{hlc};
			$note->('phantom', "$k=$f->{value} $f->{hlc}: its write failed with 55000 (mantis is loading)")
			  if $failed_loading{$k}{ $f->{value} };
			if (my $at = $ttl_attempt{$k}{ $f->{value} })
			{
				my ($w) = grep { ($_->{value} // '') eq $f->{value} } @{ $writes{$k} // [] };
				my $past = $w ? $expired_at_end->($w)
				  : $at->{t} + $at->{ttl} / 1000 + $offset + 10 < $final_time;
				$note->('expired', sprintf('%s=%s %s: written with a ttl of %d ms%s, still held %.3f s after',
					$k, $f->{value}, $f->{hlc}, $at->{ttl},
					$w && defined $w->{expires} ? sprintf(', expiring at %.3f', $w->{expires}) : '',
					$final_time - ($w && defined $w->{expires} ? $w->{expires} : $at->{t})))
				  if $past;
			}
		}
		elsif ($f->{expired})
		{
			$writer = $f->{node};
			$note->('phantom', "$k expired $f->{hlc} from $f->{node}: that writer never wrote it with a ttl")
			  unless $ttl_by{$k}{$writer};
		}
		else
		{
			$writer = $f->{node};
			$note->('phantom', "$k deleted $f->{hlc} by $f->{node}: that writer never deleted it")
			  unless $deleted_by{$k}{$writer};
		}
		$note->('phantom', "$k=" . ($f->{value} // '<deleted>')
			  . " written through $writer, held as from $f->{node} with HLC $f->{hlc} (node $id)")
		  if $f->{node} ne $writer || hlc_node($f->{hlc}) ne lc($a{node_ids}{$writer} // '');
	}

	# (6) no read returns a value after a deletion or expiry that happened
	# before it (see above).  For every node, each key's acknowledged writes
	# in HLC order, and from the end the earliest time after which a later
	# write hides a value on that node for good (a deletion seen, a ttl
	# write seen and expired), and after which any later write is seen.
	my %faults_of;    # "A M" => faults of node A or M, by injection
	my @names = sort keys %{ $a{logs} };
	for my $A (@names)
	{
		for my $M (@names)
		{
			$faults_of{"$A $M"} = [ sort { $a->{from} <=> $b->{from} }
				  grep { $_->{node} eq $A || $_->{node} eq $M } @{ $a{faults} // [] } ];
		}
	}
	my $seen_by = sub {    # when write X is on node M for sure
		my ($x, $M) = @_;
		return $x->{t} if $x->{node} eq $M;
		my $d = $x->{t} + $allow;
		for my $f (@{ $faults_of{"$x->{node} $M"} })
		{
			next if $f->{to} < $x->{t};
			last if $f->{from} > $d;
			$d = $f->{to} + $allow if $f->{to} + $allow > $d;
		}
		return $d;
	};
	my (%index, %hide, %later);    # key => value => position; key => M => [[time, X]]
	for my $k (keys %writes)
	{
		my @w = sort { $a->{hlc} cmp $b->{hlc} } @{ $writes{$k} };
		$writes{$k} = \@w;
		for my $i (0 .. $#w)
		{
			$index{$k}{ $w[$i]{value} } = $i if defined $w[$i]{value};
		}
		for my $M (@names)
		{
			my (@h, @l);
			my ($hmin, $lmin) = ([ $NEVER, undef ], [ $NEVER, undef ]);
			for (my $i = $#w; $i >= 0; $i--)
			{
				$h[$i] = $hmin;
				$l[$i] = $lmin;    # the minima over the writes after i
				my $x = $w[$i];
				next if $possibly_lost->($x);
				my $seen = $seen_by->($x, $M);
				my $hides = is_deletion($x) ? $seen
				  : $x->{op} eq 'ttl' && defined $x->{expires}
				  ? ($seen > $x->{expires} + $offset ? $seen : $x->{expires} + $offset)
				  : $NEVER;
				$hmin = [ $hides, $x ] if $hides < $hmin->[0];
				$lmin = [ $seen, $x ] if $seen < $lmin->[0];
			}
			$hide{$k}{$M} = \@h;
			$later{$k}{$M} = \@l;
		}
	}
	my %limited;    # node => [from, to] of its lower_limits faults
	push @{ $limited{ $_->{node} } }, [ $_->{from}, $_->{to} ]
	  for grep { $_->{kind} eq 'lower_limits' } @{ $a{faults} // [] };
	for my $rd (@reads)
	{
		my ($k, $v, $M, $t) = ($rd->{key}, $rd->{value}, $rd->{node}, $rd->{start});
		if (grep { $t >= $_->[0] && $t <= $_->[1] } @{ $limited{$M} // [] })
		{
			$r{reads_limited}++;
			next;
		}
		if (!defined $v)
		{
			$r{reads_null}++;
			next;
		}
		if (!defined $attempted{$k}{$v})
		{
			$note->('phantom', sprintf('%s line %d: read %s=%s at %.3f: no writer attempted it',
				$M, $rd->{line}, $k, $v, $t));
			next;
		}
		my $i = $index{$k}{$v};
		next unless defined $i;    # not acknowledged: its HLC is not known
		$r{reads_checked}++;
		my $w = $writes{$k}[$i];
		my $what = sprintf('%s line %d: read %s=%s sent at %.3f, written by %s %s at %.3f (%s)',
			$M, $rd->{line}, $k, $v, $t, $w->{node}, $w->{op}, $w->{t}, $w->{hlc});
		if ($w->{op} eq 'ttl' && defined $w->{expires} && $t > $w->{expires} + $offset)
		{
			$note->('read_expired', sprintf('%s, expired at %.3f', $what, $w->{expires}));
			next;
		}
		my ($when, $x) = @{ $hide{$k}{$M}[$i] };
		if ($t > $when)
		{
			$note->(is_deletion($x) ? 'read_deleted' : 'read_expired', sprintf(
				'%s, after %s %s by %s acked at %.3f (%s)%s, on %s for sure from %.3f',
				$what, $x->{op}, is_deletion($x) ? 'deleted' : 'written', $x->{node}, $x->{t},
				$x->{hlc}, defined $x->{expires} ? sprintf(' expiring at %.3f', $x->{expires}) : '',
				$M, $seen_by->($x, $M)));
			next;
		}
		($when, $x) = @{ $later{$k}{$M}[$i] };
		if ($t > $when)
		{
			$r{stale}++;
			push @{ $r{stale_examples} }, sprintf('%s, after %s %s by %s acked at %.3f (%s)',
				$what, $x->{op}, $x->{value} // '<deleted>', $x->{node}, $x->{t}, $x->{hlc})
			  if @{ $r{stale_examples} } < 5;
		}
	}
	return \%r;
}

1;
