#!/usr/bin/perl
#
# tcp_proxy.pl LISTEN_PORT TARGET_PORT [LOG] — a minimal TCP proxy on
# 127.0.0.1, used by the multi-node tests to cut network links: killing the
# proxy resets every connection through it (a partition), starting it again
# on the same port heals the link.  One process, one select loop, no forks.
#
# It can also hold back what the target answers, message by message, while
# the connections stay up: after SIGUSR1 every ZeroMQ message (ZMTP 3 frame
# that is not a command) coming back from the target is kept, in order,
# instead of forwarded; SIGUSR2 forwards what was kept and ends the hold.
# If the file LOG.hold exists when SIGUSR1 comes, only mantis frames of the
# types it names (e.g. "WELCOME") are kept, and the others pass: a peer
# whose greeting reaches us after its other answers.  The ZMTP greeting and
# commands (the handshake, heartbeats) pass, so the connector's socket sees
# a working connection whose answers are late; but while every type is
# kept, a command behind a kept message waits with it (the order stays), so
# such a hold outlasting the heartbeat timeout (5 s) drops the connection.
# With CURVE the messages are encrypted: no type is seen, and a hold of
# given types keeps nothing.  Not holding, the greeting passes as it comes
# and each frame once it is whole.  With LOG, the
# proxy appends a line "holding" when a hold begins, "held TYPE" for each
# mantis frame kept and "passed TYPE" for each one forwarded during the
# hold (TYPE its name: WELCOME, GROUPS, ...), and "released N" when it
# forwards the N kept, so that a test waits for each event.
#
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use IO::Handle;

my ($listen_port, $target_port, $log_path) = @ARGV;
die "usage: $0 LISTEN_PORT TARGET_PORT [LOG]\n" unless $target_port;

my $server = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => $listen_port,
	Listen => 64,
	ReuseAddr => 1,
	Proto => 'tcp') or die "cannot listen on $listen_port: $!\n";

my ($hold_asked, $release_asked) = (0, 0);
$SIG{TERM} = $SIG{INT} = sub { exit 0 };
$SIG{USR1} = sub { $hold_asked = 1 };
$SIG{USR2} = sub { $release_asked = 1 };

my $log;
if (defined $log_path)
{
	open($log, '>>', $log_path) or die "cannot open $log_path: $!\n";
	$log->autoflush(1);
}

sub note { print $log "$_[0]\n" if $log }

my @frame_types = qw(? HELLO WELCOME UPDATES SUMMARY INSYNC GROUPS LEAVES);
my $holding = 0;
my %hold_types;    # while holding: the frame types kept; empty: every one
my $select = IO::Select->new($server);
my %peer;      # socket => the socket at the other end
my %stream;    # target socket => { sock => it, in => bytes not yet parsed,
               #   greeting => bytes of the ZMTP greeting still to pass,
               #   held => [units kept] }

sub close_pair
{
	my ($s) = @_;
	my $o = delete $peer{$s};
	delete $stream{$s};
	$select->remove($s);
	close $s;
	if ($o)
	{
		delete $peer{$o};
		delete $stream{$o};
		$select->remove($o);
		close $o;
	}
}

# write all of $buf to $s; false if the connection failed
sub write_all
{
	my ($s, $buf) = @_;
	my $off = 0;
	while ($off < length $buf)
	{
		my $w = syswrite($s, $buf, length($buf) - $off, $off);
		next if !defined $w && $!{EINTR};    # SIGUSR1/2 while blocked
		return 0 unless defined $w;
		$off += $w;
	}
	return 1;
}

# The next whole unit of a target's stream (the greeting, or one ZMTP
# frame), and whether it is a message; undef while incomplete.
sub next_unit
{
	my ($st) = @_;
	if ($st->{greeting} > 0)
	{
		my $n = length $st->{in} < $st->{greeting} ? length $st->{in} : $st->{greeting};
		return undef if $n == 0;
		$st->{greeting} -= $n;
		return [ substr($st->{in}, 0, $n, ''), 0 ];
	}
	return undef if length $st->{in} < 2;
	my $flags = ord substr($st->{in}, 0, 1);
	my ($head, $size) = (2, ord substr($st->{in}, 1, 1));
	if ($flags & 0x02)
	{
		return undef if length $st->{in} < 9;
		my ($hi, $lo) = unpack('NN', substr($st->{in}, 1, 8));
		($head, $size) = (9, $hi * 4294967296 + $lo);
	}
	return undef if length $st->{in} < $head + $size;
	my $unit = substr($st->{in}, 0, $head + $size, '');
	return [ $unit, !($flags & 0x04), substr($unit, $head, 8) ];
}

# what the target sent: forwarded, or kept while holding
sub from_target
{
	my ($s, $buf) = @_;
	my $st = $stream{$s};
	$st->{in} .= $buf;
	while (my $u = next_unit($st))
	{
		my $type = !$u->[1] ? undef
		  : length($u->[2]) >= 6 && substr($u->[2], 0, 4) eq 'MNTZ'
		  ? $frame_types[ ord substr($u->[2], 5, 1) ] // 'unknown' : 'unknown';
		if ($holding && defined $type && (!%hold_types || $hold_types{$type}))
		{
			push @{ $st->{held} }, $u->[0];
			note("held $type");
			next;
		}
		# behind a kept message, everything waits when every type is kept
		if ($holding && !%hold_types && @{ $st->{held} })
		{
			push @{ $st->{held} }, $u->[0];
			next;
		}
		note("passed $type") if $holding && defined $type;
		return 0 unless write_all($peer{$s}, $u->[0]);
	}
	return 1;
}

sub release
{
	my $n = 0;
	for my $st (values %stream)
	{
		my $s = $st->{sock};
		my $units = $st->{held};
		$st->{held} = [];
		for my $u (@$units)
		{
			$n++;
			last if !$peer{$s};
			close_pair($s) unless write_all($peer{$s}, $u);
		}
	}
	$holding = 0;
	note("released $n");
}

while (1)
{
	if ($hold_asked)
	{
		$hold_asked = 0;
		$holding = 1;
		%hold_types = ();
		if (defined $log_path && open(my $f, '<', "$log_path.hold"))
		{
			%hold_types = map { $_ => 1 } split ' ', join(' ', <$f>);
			close $f;
		}
		note('holding');
	}
	if ($release_asked)
	{
		$release_asked = 0;
		release();
	}
	# a timeout, so that a signal is seen even if select restarts
	for my $s ($select->can_read(0.2))
	{
		if ($s == $server)
		{
			my $client = $server->accept or next;
			my $target = IO::Socket::INET->new(
				PeerAddr => '127.0.0.1',
				PeerPort => $target_port,
				Proto => 'tcp');
			if (!$target)
			{
				close $client;
				next;
			}
			$peer{$client} = $target;
			$peer{$target} = $client;
			$stream{$target} = { sock => $target, in => '', greeting => 64, held => [] };
			$select->add($client, $target);
			next;
		}
		next unless $peer{$s};
		my $buf;
		my $n = sysread($s, $buf, 65536);
		if (!$n)
		{
			close_pair($s);
			next;
		}
		my $ok = $stream{$s} ? from_target($s, $buf) : write_all($peer{$s}, $buf);
		close_pair($s) unless $ok;
	}
}
