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

# read_writer_log(path, node name) — the operations of one writer's log (the
# file, or a reference to its text), in order, as hashes: kind (attempt, ok,
# fail, unknown, read, read-fail, read-unknown), and for writes op (set,
# ttl, del: mantis_delete), key, value (undef
# for a deletion), ttl (ms, for an attempted ttl write), hlc (ok; undef when
# the writer could not read it back), expires (ok of a ttl write: the expiry
# in Unix seconds as read back, or undef), sqlstate (fail); for reads key,
# value (undef: NULL), start (Unix seconds when sent); t (Unix seconds when
# logged), line, node.
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
		  unless @f == $n && $f[1] =~ /^(set|ttl|del)$/;
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
# The checker: check_history indexes the history, then runs one function per
# rule; each rule notes its problems under its own name.
# ---------------------------------------------------------------------------

# hlc_node(hlc) — the node id part of an HLC's text form
sub hlc_node { my ($h) = @_; return lc((split /-/, $h)[-1]) }

# A writer's node may be renamed (a new mantis.node_name and a restart): it
# then writes under another node id, and its registers show another name,
# while what it acknowledged under its former name keeps that name's id.
# The checker attributes a register to a writer by the node id of its HLC:
# every id a writer's server has had (node_ids, then renames) is that
# writer's.  A register's node name must be the one of its HLC's id (or,
# from a server that never learned that name, the id in hex).

# index_identities(h) — owner{id} => writer, name_of{id} => the node name
# that id stands for, ids_of{writer} => its ids in the order it had them;
# dies on an id claimed by two writers
sub index_identities
{
	my ($h) = @_;
	my @ids = map { { node => $_, name => $_, id => $h->{a}{node_ids}{$_} } }
	  sort keys %{ $h->{a}{node_ids} // {} };
	push @ids, sort { $a->{from} <=> $b->{from} } @{ $h->{a}{renames} // [] };
	for (@ids)
	{
		my $id = lc($_->{id});
		die "node id $id is both $h->{owner}{$id}'s and $_->{node}'s"
		  if defined $h->{owner}{$id} && $h->{owner}{$id} ne $_->{node};
		$h->{owner}{$id} = $_->{node};
		$h->{name_of}{$id} = $_->{name};
		push @{ $h->{ids_of}{ $_->{node} } }, $id;
	}
}

# owner(h, hlc) — the writer whose server wrote with that HLC's node id, or
# undef
sub owner { my ($h, $hlc) = @_; return $h->{owner}{ hlc_node($hlc) } }

# named_right(h, f) — the register f shows the node name of its HLC's id
sub named_right
{
	my ($h, $f) = @_;
	my $id = hlc_node($f->{hlc});
	return $f->{node} eq ($h->{name_of}{$id} // '') || lc($f->{node}) eq $id;
}

# is_deletion(op) — a write that leaves a deletion marker
sub is_deletion { my ($op) = @_; return $op->{op} eq 'del' }

my $NEVER = 9**9**9;    # +inf

# The kinds of problem, each the name of a list of descriptions (at most 20)
# and of a count n_<kind> in the result of check_history.
my @PROBLEMS = qw(diverged lost mismatch phantom hlc_order expired read_deleted
  read_expired acked_dead);

# check_history(%a) — check that the nodes converged, the writers' histories
# against the final registers, and what the writers read against what they
# wrote.  Arguments:
#   dumps      => { node name => dump text of its registers }, taken at once
#                 (converged_dumps), which must be identical
#   finals     => dump text of the converged registers (registers_dump_expiry:
#                 "key|value|hlc|node|expiry"; or without the expiry)
#   final_time => when they were dumped (Unix seconds)
#   node_ids   => { node name => node id in hex }: each writer's node as it
#                 started (named after the writer)
#   renames    => [ { node, name, id, from, to } ]: node (a writer's) renamed
#                 to name, with node id id, by a restart from..to
#                 (optional; see index_identities)
#   logs       => { node name => ops from read_writer_log }
#   probes     => { key => { value => node name } }: other writes made (the
#                 nemesis's probes), accepted as the origin of a register
#   crashes    => the nemesis's crashes (each gets lost => the number of
#                 losses it excused, oldest => the age in seconds of the
#                 oldest of them at the crash; negative: acknowledged after);
#                 one that killed the postmaster has dead => when it was
#                 seen dead, and gets acked_after => the writes of its
#                 node acknowledged after the kill (from), last_ack => how
#                 long after, last_sent => the latest of their attempts,
#                 in seconds after dead (see check_acked_after_death)
#   death_margin => seconds after a postmaster was seen dead within which a
#                 write attempted may still have been acknowledged (0.005)
#   window     => seconds before a crash in which an acknowledged write of the
#                 crashed node may be lost (flush interval + margin)
#   faults     => the nemesis's faults ({ node, kind, from, to })
#   offset     => mantis.max_clock_offset, in seconds
#   replication => seconds within which a write acknowledged by one node
#                 is on every other one when no fault touches either (the
#                 allowance of the read check across nodes, see
#                 check_reads)
# Returns a hash of counts, and of lists of problems (at most 20 each) with
# their counts n_<kind>, one kind per rule:
#   diverged      check_convergence
#   hlc_order     check_hlc_order
#   mismatch      check_held_writes
#   lost          check_lost_writes
#   phantom       check_phantom_registers, phantom_read, check_hlc_order
#   expired       check_expired_registers
#   read_expired  read_after_its_expiry, read_after_hiding_write
#   read_deleted  read_after_hiding_write
#   acked_dead    check_acked_after_death
sub check_history
{
	my $h = index_history(@_);
	check_acked_after_death($h);
	check_convergence($h);
	check_hlc_order($h);
	check_held_writes($h);
	check_lost_writes($h);
	check_phantom_registers($h);
	check_expired_registers($h);
	check_reads($h);
	return $h->{r};
}

# index_history(%a) — the state the rules share: the arguments (a), the
# result (r, with the counts of the logs), the final registers (final), and
# the writers' operations indexed by key (see index_logs).
sub index_history
{
	my %a = @_;
	my %r = (ok => 0, fail => 0, unknown => 0, attempt => 0, registers => 0,
		survived => 0, beaten => 0, excused => 0, excused_by => {},
		vanished => 0, beaten_gone => 0, no_hlc => 0,
		read => 0, 'read-fail' => 0, 'read-unknown' => 0, reads_checked => 0,
		reads_null => 0, reads_limited => 0, stale => 0, stale_examples => [],
		ttl_acked => 0, del_acked => 0);
	for (@PROBLEMS)
	{
		$r{$_} = [];
		$r{"n_$_"} = 0;
	}
	my $h = {
		a => \%a,
		r => \%r,
		offset => $a{offset} // 0.5,
		final_time => $a{final_time} // time(),
		allow => $a{replication} // 4,
		names => [ sort keys %{ $a{logs} } ],
	};
	$h->{final} = parse_finals($h, $a{finals} // '');
	push @{ $h->{crashes_of}{ $_->{node} } }, $_ for @{ $a{crashes} };
	index_identities($h);
	index_logs($h);
	return $h;
}

# note(h, kind, text) — count a problem of that kind, and keep its text
# (the first 20).
sub note
{
	my ($h, $what, $text) = @_;
	my $r = $h->{r};
	$r->{"n_$what"}++;
	push @{ $r->{$what} }, $text if @{ $r->{$what} } < 20;
}

# parse_finals(h, dump) — key => { value (undef if dead), expired, expires
# (Unix seconds or undef), hlc, node } from a registers_dump_expiry text;
# counts registers, and dead ones (final_dead).
sub parse_finals
{
	my ($h, $text) = @_;
	my %final;
	for my $l (split /\n/, $text)
	{
		my ($k, $v, $hlc, $n, $e) = split /\|/, $l, -1;
		$final{$k} = {
			value => $v =~ /^<(deleted|expired)>$/ ? undef : $v,
			expired => $v eq '<expired>',
			expires => defined $e && $e ne '-' ? $e / 1000 : undef,
			hlc => $hlc,
			node => $n };
		$h->{r}{registers}++;
		$h->{r}{final_dead}++ unless defined $final{$k}{value};
	}
	return \%final;
}

# index_logs(h) — count every kind of line, and index what every writer
# attempted, acknowledged and saw fail:
#   attempted{k}{v}   => writer (probes included), for every value attempted
#   deleted_by{k}{w}, ttl_by{k}{w} => 1: w attempted a deletion, a ttl write
#   ttl_attempt{k}{v} => the attempt of a ttl write
#   acked{k}{v}       => the HLC acknowledged for that value
#   writes{k}         => the acknowledged writes with an HLC, in log order
#                        (each with the ttl of its attempt, 0 if none)
#   failed_loading{k}{v} => 1: refused with 55000 (mantis is loading)
#   maybe_gone{k}     => deletions or ttl writes of unknown effect
#   reads             => the answered reads
sub index_logs
{
	my ($h) = @_;
	my $r = $h->{r};
	for my $name (@{ $h->{names} })
	{
		my $pending;    # the attempt whose outcome comes next
		for my $op (@{ $h->{a}{logs}{$name} })
		{
			$r->{ $op->{kind} }++;
			my $k = $op->{key};
			if ($op->{kind} eq 'attempt')
			{
				if (defined $op->{value}) { $h->{attempted}{$k}{ $op->{value} } = $name }
				else { $h->{deleted_by}{$k}{$name} = 1 }
				if ($op->{op} eq 'ttl')
				{
					$h->{ttl_attempt}{$k}{ $op->{value} } = $op;
					$h->{ttl_by}{$k}{$name} = 1;
				}
				$pending = $op;
				next;
			}
			if ($op->{kind} eq 'read')
			{
				push @{ $h->{reads} }, $op;
				next;
			}
			next if $op->{kind} =~ /^read/;
			my $ttl = $pending && $pending->{key} eq $k ? $pending->{ttl} : undef;
			undef $pending;
			my $gone_kind = is_deletion($op) || $op->{op} eq 'ttl';
			if ($op->{kind} eq 'ok')
			{
				$r->{ttl_acked}++ if $op->{op} eq 'ttl';
				$r->{del_acked}++ if is_deletion($op);
				if (!defined $op->{hlc})
				{
					# a deletion whose marker a peer's write replaced before
					# the writer read it back: nothing to check it against
					$r->{no_hlc}++;
					$h->{maybe_gone}{$k}++ if $gone_kind;
					next;
				}
				$h->{acked}{$k}{ $op->{value} } = $op->{hlc} if defined $op->{value};
				push @{ $h->{writes}{$k} }, { %$op, ttl => $ttl // 0 };
			}
			elsif ($op->{kind} eq 'fail' && $op->{sqlstate} eq '55000')
			{
				# "mantis is loading": refused before any change
				$h->{failed_loading}{$k}{ $op->{value} } = 1 if defined $op->{value};
			}
			else
			{
				# failed (perhaps after the write, in its read-back) or unknown
				$h->{maybe_gone}{$k}++ if $gone_kind;
			}
		}
	}
	my $probes = $h->{a}{probes} // {};
	for my $k (keys %$probes)
	{
		$h->{attempted}{$k}{$_} = $probes->{$k}{$_} for keys %{ $probes->{$k} };
	}
}

# expired_at_end(h, w) — the ttl write's expiry passed at the final dump;
# without an expiry read back, from the ttl asked and a second of slack
sub expired_at_end
{
	my ($h, $w) = @_;
	return defined $w->{expires}
	  ? $w->{expires} + $h->{offset} < $h->{final_time}
	  : $w->{t} + $w->{ttl} / 1000 + $h->{offset} + 1 < $h->{final_time};
}

# possibly_lost(h, w) — the first crash of w's node that may have lost the
# acknowledged write w (acknowledged in the window before it, or during it),
# or undef.
sub possibly_lost
{
	my ($h, $w) = @_;
	for (@{ $h->{crashes_of}{ $w->{node} } // [] })
	{
		return $_ if $w->{t} >= $_->{from} - $h->{a}{window} && $w->{t} <= $_->{to};
	}
	return undef;
}

# leaves_nothing(h, w) — the acknowledged write w may leave its key without
# any register once collected: a deletion, or a ttl write that may have
# expired by the final dump.  May: a server's clock may be ahead of ours by
# the offset, so a register ours says expires within the offset of the dump
# may have expired there and been collected before it (the test waits for
# every server to see every expiring register run out, not for the offset
# to pass as well: 005 seed 550957668 flagged four writes expiring 0.4 s
# before the dump, gone with no register left).
sub leaves_nothing
{
	my ($h, $w) = @_;
	return 1 if is_deletion($w);
	return 0 unless $w->{op} eq 'ttl';
	return defined $w->{expires}
	  ? $w->{expires} - $h->{offset} < $h->{final_time}
	  : $w->{t} + $w->{ttl} / 1000 - $h->{offset} < $h->{final_time};
}

# check_convergence(h) — rule: every node's dump is the same text as the
# first node's (by name) (diverged): a problem for each key whose register
# differs, or one for a dump that differs otherwise.
sub check_convergence
{
	my ($h) = @_;
	my $dumps = $h->{a}{dumps} // {};
	my ($first, @others) = sort keys %$dumps;
	for my $n (@others)
	{
		next if $dumps->{$n} eq $dumps->{$first};
		my @diff = dump_differences($dumps->{$first}, $dumps->{$n});
		@diff = ('same registers, listed differently') unless @diff;
		note($h, 'diverged', "$n differs from $first: $_") for @diff;
	}
}

# dump_differences(a, b) — "<key>: <line of a|none> / <line of b|none>" for
# every key whose line differs between the two dumps
sub dump_differences
{
	my ($x, $y) = map {
		my %line;
		$line{ (split /\|/, $_)[0] } = $_ for split /\n/, $_;
		\%line
	} @_;
	my %keys = map { $_ => 1 } keys %$x, keys %$y;
	return map { "$_: " . ($x->{$_} // 'none') . ' / ' . ($y->{$_} // 'none') }
	  grep { ($x->{$_} // '') ne ($y->{$_} // '') } sort keys %keys;
}

# check_hlc_order(h) — rule: the HLCs one writer sees acknowledged strictly
# increase, and carry the node ids its server had, in the order it had them
# (hlc_order); an HLC of an id not its server's is a phantom.
sub check_hlc_order
{
	my ($h) = @_;
	for my $name (@{ $h->{names} })
	{
		my $prev;    # this writer's previous acknowledged HLC
		my %rank;    # its ids, by the order its server had them
		@rank{ @{ $h->{ids_of}{$name} // [] } } = 0 .. $#{ $h->{ids_of}{$name} // [] };
		for my $op (grep { $_->{kind} eq 'ok' && defined $_->{hlc} } @{ $h->{a}{logs}{$name} })
		{
			my ($id, $was) = (hlc_node($op->{hlc}), defined $prev ? hlc_node($prev) : undef);
			note($h, 'hlc_order', sprintf('%s line %d at %.3f: ok HLC %s after %s',
				$name, $op->{line}, $op->{t}, $op->{hlc}, $prev))
			  if defined $prev && $op->{hlc} le $prev;
			if (!defined $rank{$id})
			{
				note($h, 'phantom', sprintf('%s line %d at %.3f: ok HLC %s, of a node id its server never had',
					$name, $op->{line}, $op->{t}, $op->{hlc}));
			}
			elsif (defined $was && defined $rank{$was} && $rank{$id} < $rank{$was})
			{
				note($h, 'hlc_order', sprintf('%s line %d at %.3f: ok HLC %s under a former name (%s), after %s',
					$name, $op->{line}, $op->{t}, $op->{hlc}, $h->{name_of}{$id}, $prev));
			}
			$prev = $op->{hlc};
		}
	}
}

# check_held_writes(h) — rule: an acknowledged write whose HLC the final
# register of its key has is that register: its value and node, or, for a
# ttl write, its register expired (same node and expiry) (mismatch).
# Counts them as survived, but a ttl write whose expiry passed and whose
# register still holds its value (check_expired_registers).
sub check_held_writes
{
	my ($h) = @_;
	for my $k (sort keys %{ $h->{writes} })
	{
		my $f = $h->{final}{$k} or next;
		for my $op (grep { $_->{hlc} eq $f->{hlc} } @{ $h->{writes}{$k} })
		{
			my $problem = $f->{expired} ? expired_register_mismatch($h, $op, $f)
			  : held_register_mismatch($h, $op, $f);
			if ($problem) { note($h, 'mismatch', $problem) }
			elsif ($f->{expired} || $op->{op} ne 'ttl' || !expired_at_end($h, $op))
			{
				$h->{r}{survived}++;
			}
		}
	}
}

# expired_register_mismatch(h, w, f) — why the expired register f, with the
# HLC of the acknowledged write w, is not w's, or undef: it must be a ttl
# write's, from the same node (by the HLC's id, named as that id), with the
# same expiry.
sub expired_register_mismatch
{
	my ($h, $op, $f) = @_;
	return undef
	  unless $op->{op} ne 'ttl' || !named_right($h, $f)
	  || (owner($h, $f->{hlc}) // '') ne $op->{node}
	  || (defined $op->{expires} && defined $f->{expires}
		&& abs($op->{expires} - $f->{expires}) > 0.0015);
	return sprintf(
		'%s %s %s=%s at %s%s, but the register with that HLC is one from %s that expired%s',
		$op->{node}, $op->{op}, $op->{key}, $op->{value} // '<deleted>', $op->{hlc},
		defined $op->{expires} ? sprintf(' expiring at %.3f', $op->{expires}) : '',
		$f->{node}, defined $f->{expires} ? sprintf(' at %.3f', $f->{expires}) : '');
}

# held_register_mismatch(h, w, f) — why the register f, with the HLC of the
# acknowledged write w, is not w's, or undef: same value (or deletion) and
# node (by the HLC's id, named as that id).
sub held_register_mismatch
{
	my ($h, $op, $f) = @_;
	my $v = $op->{value} // '<deleted>';
	return undef
	  if ($f->{value} // '<deleted>') eq $v && named_right($h, $f)
	  && (owner($h, $f->{hlc}) // '') eq $op->{node};
	return sprintf('%s %s=%s at %s, but the register with that HLC holds %s from %s',
		$op->{node}, $op->{key}, $v, $op->{hlc}, $f->{value} // '<deleted>', $f->{node});
}

# check_lost_writes(h) — rule: an acknowledged write whose HLC the final
# register of its key does not have is beaten (the register has a greater
# HLC), or gone for a reason: the key has no register, and the write left
# nothing (a deletion, a ttl write expired at the end: survived, vanished),
# or a deletion or ttl write of the key that may have left nothing exists
# (acknowledged with a greater HLC, or of unknown outcome: beaten,
# beaten_gone).  Anything else (a smaller HLC, or no register for no
# reason) is lost, unless a crash of its node may have lost it (excused,
# counted by kind of crash and on the crash).
sub check_lost_writes
{
	my ($h) = @_;
	my $r = $h->{r};
	for my $k (sort keys %{ $h->{writes} })
	{
		my $f = $h->{final}{$k};
		my $gone_hlc = '';    # the greatest HLC of a write of k leaving nothing
		for (grep { leaves_nothing($h, $_) } @{ $h->{writes}{$k} })
		{
			$gone_hlc = $_->{hlc} if $_->{hlc} gt $gone_hlc;
		}
		for my $op (@{ $h->{writes}{$k} })
		{
			next if $f && $f->{hlc} eq $op->{hlc};    # check_held_writes
			if ($f && $f->{hlc} gt $op->{hlc}) { $r->{beaten}++ }
			elsif (!$f && leaves_nothing($h, $op))
			{
				$r->{survived}++;
				$r->{vanished}++;
			}
			elsif (!$f && ($h->{maybe_gone}{$k} || $gone_hlc gt $op->{hlc}))
			{
				$r->{beaten}++;
				$r->{beaten_gone}++;
			}
			elsif (my $crash = possibly_lost($h, $op)) { excuse_loss($h, $op, $crash) }
			else
			{
				note($h, 'lost', sprintf(
					'%s line %d, %s acked at %.3f: %s=%s %s%s; final: %s',
					$op->{node}, $op->{line}, $op->{op}, $op->{t}, $k,
					$op->{value} // '<deleted>', $op->{hlc},
					defined $op->{expires} ? sprintf(' expiring %.3f', $op->{expires}) : '',
					$f ? "$f->{hlc} " . ($f->{value} // '<deleted>') : 'none'));
			}
		}
	}
}

# check_acked_after_death(h) — rule: a backend whose postmaster has died
# acknowledges no mantis write (api/txn.c).  For a crash that killed the
# postmaster (dead: when the test saw it a zombie or gone, which it is only
# once its children can see it dead), no write of the crashed node's writer
# attempted after dead + death_margin, and before the crash ended (the
# server was down until then: no new run of it answered), was acknowledged
# (acked_dead).  The time of the attempt, not of the acknowledgement: a
# write the backend checked just before the death may be acknowledged
# after it, and one acknowledged after the kill was sent (from) may have
# been checked before the kernel had finished the postmaster (it did so
# within 1.5 to 10 ms in TAP 033); those are counted on the crash
# (acked_after, last_ack, last_sent).  The writer logs its attempt before
# it sends it, and the test sees the death after it happens: both err
# towards passing, so the margin only covers reading one clock in two
# processes.
sub check_acked_after_death
{
	my ($h) = @_;
	my $margin = $h->{a}{death_margin} // 0.005;
	for my $crash (grep { defined $_->{dead} } @{ $h->{a}{crashes} // [] })
	{
		$crash->{acked_after} = 0;
		my $attempt;
		for my $op (@{ $h->{a}{logs}{ $crash->{node} } // [] })
		{
			if ($op->{kind} eq 'attempt') { $attempt = $op; next }
			next unless $op->{kind} eq 'ok' && $attempt && $op->{t} > $crash->{from};
			next if $attempt->{t} > $crash->{to};
			$crash->{acked_after}++;
			$crash->{last_ack} = $op->{t} - $crash->{from};
			$crash->{last_sent} = $attempt->{t} - $crash->{dead};
			next unless $attempt->{t} > $crash->{dead} + $margin;
			note($h, 'acked_dead', sprintf(
				'%s line %d: %s %s=%s attempted %.1f ms after the postmaster was seen dead (%s), acknowledged',
				$op->{node}, $op->{line}, $op->{op}, $op->{key}, $op->{value} // '<deleted>',
				1000 * ($attempt->{t} - $crash->{dead}), $crash->{kind}));
		}
	}
}

# excuse_loss(h, w, crash) — count the acknowledged write w as lost by the
# crash, which may lose it by design.
sub excuse_loss
{
	my ($h, $op, $crash) = @_;
	my $age = $crash->{from} - $op->{t};
	$h->{r}{excused}++;
	$h->{r}{excused_by}{ $crash->{kind} }++;
	$crash->{lost}++;
	$crash->{oldest} = $age if !defined $crash->{oldest} || $age > $crash->{oldest};
}

# check_phantom_registers(h) — rule: every final register was written by a
# writer (or a probe), with the HLC of its node (phantom): a value someone
# attempted, acknowledged (if at all) with that HLC, not refused with 55000;
# an expired register from a writer that wrote the key with a ttl; a
# deletion marker from a writer that deleted the key.  Its HLC's node id is
# one its writer's server had, and it shows that id's name.
sub check_phantom_registers
{
	my ($h) = @_;
	for my $k (sort keys %{ $h->{final} })
	{
		my $f = $h->{final}{$k};
		my $writer = register_writer($h, $k, $f);
		next unless defined $writer;
		my $owner = owner($h, $f->{hlc});
		note($h, 'phantom', "$k=" . ($f->{value} // '<deleted>')
			  . " written through $writer, held as from $f->{node} with HLC $f->{hlc} (node of "
			  . ($owner // 'no writer') . ')')
		  if !named_right($h, $f) || ($owner // '') ne $writer;
	}
}

# register_writer(h, k, f) — the writer of the final register f of key k,
# noting a phantom when no writer could have made it; undef when none
# attempted its value.
sub register_writer
{
	my ($h, $k, $f) = @_;
	my $owner = owner($h, $f->{hlc}) // $f->{node};
	if ($f->{expired})
	{
		note($h, 'phantom', "$k expired $f->{hlc} from $f->{node}: that writer never wrote it with a ttl")
		  unless $h->{ttl_by}{$k}{$owner};
		return $owner;
	}
	if (!defined $f->{value})
	{
		note($h, 'phantom', "$k deleted $f->{hlc} by $f->{node}: that writer never deleted it")
		  unless $h->{deleted_by}{$k}{$owner};
		return $owner;
	}
	my $v = $f->{value};
	my $writer = $h->{attempted}{$k}{$v};
	if (!defined $writer)
	{
		note($h, 'phantom', "$k=$v $f->{hlc}: no writer attempted it");
		return undef;
	}
	my $acked_hlc = $h->{acked}{$k}{$v};
	note($h, 'phantom', "$k=$v: acknowledged with $acked_hlc, held with $f->{hlc}")
	  if defined $acked_hlc && $acked_hlc ne $f->{hlc};
	note($h, 'phantom', "$k=$v $f->{hlc}: its write failed with 55000 (mantis is loading)")
	  if $h->{failed_loading}{$k}{$v};
	return $writer;
}

# check_expired_registers(h) — rule: no final register holds a value
# written with a ttl whose expiry (+ offset) passed at the end (expired);
# without an acknowledgement, 10 s after the attempt's ttl.
sub check_expired_registers
{
	my ($h) = @_;
	for my $k (sort keys %{ $h->{final} })
	{
		my $f = $h->{final}{$k};
		next unless defined $f->{value};
		my $at = $h->{ttl_attempt}{$k}{ $f->{value} } or next;
		my ($w) = grep { ($_->{value} // '') eq $f->{value} } @{ $h->{writes}{$k} // [] };
		my $past = $w ? expired_at_end($h, $w)
		  : $at->{t} + $at->{ttl} / 1000 + $h->{offset} + 10 < $h->{final_time};
		next unless $past;
		my $expires = $w && defined $w->{expires} ? $w->{expires} : undef;
		note($h, 'expired', sprintf('%s=%s %s: written with a ttl of %d ms%s, still held %.3f s after',
			$k, $f->{value}, $f->{hlc}, $at->{ttl},
			defined $expires ? sprintf(', expiring at %.3f', $expires) : '',
			$h->{final_time} - ($expires // $at->{t})));
	}
}

# check_reads(h) — the rules of the reads.  A read of key k on node M, sent
# at time t, that returned value v, written by an acknowledged write W (HLC
# h), is wrong when
#   - nobody attempted v (phantom_read);
#   - W had a ttl and its acknowledged expiry + offset < t
#     (read_after_its_expiry: read_expired), or
#   - an acknowledged write X of k with an HLC > h happened before the read,
#     and X is a deletion (read_deleted) or a ttl write whose expiry + offset
#     < t (read_expired): LWW then hides v on M for good
#     (read_after_hiding_write).
# X happened before the read when it was acknowledged by M itself before t
# (the same writer, before it sent the read), or, from another node A, when
# t > the replication deadline of X: its acknowledgement + the replication
# allowance, extended, while a fault of A or M (partition, pause, crash,
# restart...; from its injection until healed) overlaps the interval, to that
# fault's healing + the allowance (seen_by).  X possibly lost by a crash
# (acknowledged by its node in the window before one) is no evidence.
# Reads of v after a later plain write X happened before them are counted as
# stale (a note, not a check).  Reads of NULL are not checked, nor reads on a
# node while it runs with limits lowered (a lower_limits fault of that node,
# from its injection until healed): that start holds back every register
# larger than the limit, and serves, for a key, the newest one it could load
# - an older, short value - by design (README, Persistence).  A read has at
# most one problem: the first rule above that finds one.
sub check_reads
{
	my ($h) = @_;
	index_faults($h);
	index_later_writes($h);
	for my $rd (@{ $h->{reads} // [] })
	{
		next if read_not_checked($h, $rd);
		next if phantom_read($h, $rd);
		my $w = read_write($h, $rd) or next;    # not acknowledged: HLC unknown
		$h->{r}{reads_checked}++;
		next if read_after_its_expiry($h, $rd, $w);
		next if read_after_hiding_write($h, $rd, $w);
		count_stale_read($h, $rd, $w);
	}
}

# index_faults(h) — faults_of{"A M"}: the faults of node A or M, by
# injection; limited{M}: the [from, to] of M's lower_limits faults.
sub index_faults
{
	my ($h) = @_;
	my @faults = @{ $h->{a}{faults} // [] };
	for my $A (@{ $h->{names} })
	{
		for my $M (@{ $h->{names} })
		{
			$h->{faults_of}{"$A $M"} = [ sort { $a->{from} <=> $b->{from} }
				  grep { $_->{node} eq $A || $_->{node} eq $M } @faults ];
		}
	}
	push @{ $h->{limited}{ $_->{node} } }, [ $_->{from}, $_->{to} ]
	  for grep { $_->{kind} eq 'lower_limits' } @faults;
}

# seen_by(h, x, M) — when the acknowledged write x is on node M for sure
sub seen_by
{
	my ($h, $x, $M) = @_;
	return $x->{t} if $x->{node} eq $M;
	my $d = $x->{t} + $h->{allow};
	for my $f (@{ $h->{faults_of}{"$x->{node} $M"} })
	{
		next if $f->{to} < $x->{t};
		last if $f->{from} > $d;
		$d = $f->{to} + $h->{allow} if $f->{to} + $h->{allow} > $d;
	}
	return $d;
}

# index_later_writes(h) — for every key, its acknowledged writes in HLC
# order (by_hlc{k}), the position of each value (index{k}{v}), and for every
# node M and position i, over the writes after i not possibly lost by a
# crash: the earliest time after which one hides the value on M for good (a
# deletion seen, a ttl write seen and expired), and that write
# (hide{k}{M}[i] = [time, write]); the earliest time after which one is seen
# on M, and that write (later{k}{M}[i]).
sub index_later_writes
{
	my ($h) = @_;
	for my $k (keys %{ $h->{writes} })
	{
		my @w = sort { $a->{hlc} cmp $b->{hlc} } @{ $h->{writes}{$k} };
		$h->{by_hlc}{$k} = \@w;
		for my $i (0 .. $#w)
		{
			$h->{index}{$k}{ $w[$i]{value} } = $i if defined $w[$i]{value};
		}
		for my $M (@{ $h->{names} })
		{
			my (@hide, @later);
			my ($hmin, $lmin) = ([ $NEVER, undef ], [ $NEVER, undef ]);
			for (my $i = $#w; $i >= 0; $i--)
			{
				$hide[$i] = $hmin;
				$later[$i] = $lmin;    # the minima over the writes after i
				my $x = $w[$i];
				next if possibly_lost($h, $x);
				my $seen = seen_by($h, $x, $M);
				my $hides = hidden_from($h, $x, $seen);
				$hmin = [ $hides, $x ] if $hides < $hmin->[0];
				$lmin = [ $seen, $x ] if $seen < $lmin->[0];
			}
			$h->{hide}{$k}{$M} = \@hide;
			$h->{later}{$k}{$M} = \@later;
		}
	}
}

# hidden_from(h, x, seen) — from when the write x, seen on a node from time
# seen, hides the older values of its key there for good: a deletion at
# once, a ttl write once also expired (+ offset); a plain write never.
sub hidden_from
{
	my ($h, $x, $seen) = @_;
	return $seen if is_deletion($x);
	return $NEVER unless $x->{op} eq 'ttl' && defined $x->{expires};
	my $expired = $x->{expires} + $h->{offset};
	return $seen > $expired ? $seen : $expired;
}

# read_not_checked(h, rd) — a read not checked, counted: made while its
# node ran with limits lowered (reads_limited), or of NULL (reads_null).
sub read_not_checked
{
	my ($h, $rd) = @_;
	my $t = $rd->{start};
	if (grep { $t >= $_->[0] && $t <= $_->[1] } @{ $h->{limited}{ $rd->{node} } // [] })
	{
		$h->{r}{reads_limited}++;
		return 1;
	}
	if (!defined $rd->{value})
	{
		$h->{r}{reads_null}++;
		return 1;
	}
	return 0;
}

# phantom_read(h, rd) — rule: a read returned a value nobody attempted
# (phantom).
sub phantom_read
{
	my ($h, $rd) = @_;
	return 0 if defined $h->{attempted}{ $rd->{key} }{ $rd->{value} };
	note($h, 'phantom', sprintf('%s line %d: read %s=%s at %.3f: no writer attempted it',
		$rd->{node}, $rd->{line}, $rd->{key}, $rd->{value}, $rd->{start}));
	return 1;
}

# read_write(h, rd) — the acknowledged write of the value read, or undef.
sub read_write
{
	my ($h, $rd) = @_;
	my $i = $h->{index}{ $rd->{key} }{ $rd->{value} };
	return defined $i ? $h->{by_hlc}{ $rd->{key} }[$i] : undef;
}

# read_what(rd, w) — the description of the read rd of w's value
sub read_what
{
	my ($rd, $w) = @_;
	return sprintf('%s line %d: read %s=%s sent at %.3f, written by %s %s at %.3f (%s)',
		$rd->{node}, $rd->{line}, $rd->{key}, $rd->{value}, $rd->{start},
		$w->{node}, $w->{op}, $w->{t}, $w->{hlc});
}

# read_after_its_expiry(h, rd, w) — rule: the read returned the value of the
# ttl write w sent after w's acknowledged expiry + offset (read_expired).
sub read_after_its_expiry
{
	my ($h, $rd, $w) = @_;
	return 0
	  unless $w->{op} eq 'ttl' && defined $w->{expires}
	  && $rd->{start} > $w->{expires} + $h->{offset};
	note($h, 'read_expired', sprintf('%s, expired at %.3f', read_what($rd, $w), $w->{expires}));
	return 1;
}

# read_after_hiding_write(h, rd, w) — rule: the read returned w's value after
# a write with a greater HLC that hides it on that node for good happened
# before it: a deletion (read_deleted) or a ttl write expired
# (read_expired).
sub read_after_hiding_write
{
	my ($h, $rd, $w) = @_;
	my ($k, $M) = ($rd->{key}, $rd->{node});
	my ($when, $x) = @{ $h->{hide}{$k}{$M}[ $h->{index}{$k}{ $rd->{value} } ] };
	return 0 unless $rd->{start} > $when;
	note($h, is_deletion($x) ? 'read_deleted' : 'read_expired', sprintf(
		'%s, after %s %s by %s acked at %.3f (%s)%s, on %s for sure from %.3f',
		read_what($rd, $w), $x->{op}, is_deletion($x) ? 'deleted' : 'written', $x->{node},
		$x->{t}, $x->{hlc},
		defined $x->{expires} ? sprintf(' expiring at %.3f', $x->{expires}) : '',
		$M, seen_by($h, $x, $M)));
	return 1;
}

# count_stale_read(h, rd, w) — count the read as stale when a write with a
# greater HLC happened before it (not a problem: a plain write replicates
# at its own pace), keeping 5 examples.
sub count_stale_read
{
	my ($h, $rd, $w) = @_;
	my ($k, $M) = ($rd->{key}, $rd->{node});
	my ($when, $x) = @{ $h->{later}{$k}{$M}[ $h->{index}{$k}{ $rd->{value} } ] };
	return unless $rd->{start} > $when;
	my $r = $h->{r};
	$r->{stale}++;
	push @{ $r->{stale_examples} }, sprintf('%s, after %s %s by %s acked at %.3f (%s)',
		read_what($rd, $w), $x->{op}, $x->{value} // '<deleted>', $x->{node}, $x->{t}, $x->{hlc})
	  if @{ $r->{stale_examples} } < 5;
}

1;
