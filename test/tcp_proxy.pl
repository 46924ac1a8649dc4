#!/usr/bin/perl
#
# tcp_proxy.pl LISTEN_PORT TARGET_PORT [LOG] — a minimal TCP proxy on
# 127.0.0.1, used by the multi-node tests to cut network links: killing the
# proxy resets every connection through it (a partition), starting it again
# on the same port heals the link.  One process, one select loop, no forks.
#
# It can also hold ZeroMQ messages back, message by message, while the
# connections stay up.  It reads both streams of each connection as ZMTP 3
# (a 64-byte greeting, then frames).  After SIGUSR1 it keeps the messages
# (frames that are not commands) going one way instead of forwarding them:
# the target's answers, or with the word "requests" in the file LOG.hold
# what the connector sends; if LOG.hold names mantis frame types (e.g.
# "WELCOME"), only frames of those types are kept, and the others pass: a
# peer whose greeting reaches us after its other messages.  SIGUSR2
# forwards what was kept and ends the hold.  Commands (the handshake,
# heartbeats) always pass, so both ends see a working connection whose
# messages are late; but while every type is kept, a command behind a kept
# message waits with it (the order stays), so such a hold outlasting the
# heartbeat timeout (5 s) drops the connection.  With CURVE the messages
# are encrypted: no type is seen, and a hold of given types keeps nothing.
#
# A connector that goes away while requests of it are kept leaves its
# connection to the target open: the proxy answers the target's heartbeats
# itself, and forwards the kept requests at SIGUSR2, as the network does
# with what a process sent before it died.  While the file LOG.refuse
# exists, new connections are accepted and closed at once.
#
# With LOG, the proxy appends a line for each event, so that a test waits
# for it: "holding" when a hold begins, "held TYPE" for each mantis frame
# kept and "passed TYPE" for each one forwarded during the hold (TYPE its
# name: HELLO, WELCOME, GROUPS, ...), "released N" when it forwards the N
# kept, "orphaned TYPE" for a message the target sends to a connector gone
# away, and "refused a connection".
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
my $hold_dir = 'answers';    # while holding: the stream kept
my %hold_types;              # while holding: the frame types kept; empty: every one
my $select = IO::Select->new($server);
my %peer;      # socket => the socket at the other end
my %stream;    # socket => what it sends: { sock => it, dir => 'answers'
               #   (a target's) or 'requests' (a connector's), in => bytes
               #   not yet parsed, greeting => bytes of the ZMTP greeting
               #   still to pass, held => [units kept], orphan => its
               #   connector went away (a target's) }

sub close_socket
{
	my ($s) = @_;
	delete $peer{$s};
	delete $stream{$s};
	$select->remove($s);
	close $s;
}

sub close_pair
{
	my ($s) = @_;
	my $o = $peer{$s};
	close_socket($s);
	close_socket($o) if $o;
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

# The next whole unit of a stream: [bytes, is a message, body]; undef
# while incomplete.  The greeting passes as it comes (libzmq sends it in
# two parts and waits for the other end's between them).
sub next_unit
{
	my ($st) = @_;
	if ($st->{greeting} > 0)
	{
		my $n = length $st->{in} < $st->{greeting} ? length $st->{in} : $st->{greeting};
		return undef if $n == 0;
		$st->{greeting} -= $n;
		return [ substr($st->{in}, 0, $n, ''), 0, '' ];
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
	return [ $unit, !($flags & 0x04), substr($unit, $head) ];
}

sub frame_type
{
	my ($body) = @_;
	return 'unknown' unless length($body) >= 6 && substr($body, 0, 4) eq 'MNTZ';
	return $frame_types[ ord substr($body, 5, 1) ] // 'unknown';
}

# A target's command to a connector gone away: a PING is answered with a
# PONG of its context, so that the target keeps the connection.
sub answer_orphan_command
{
	my ($s, $body) = @_;
	return 1 unless length($body) >= 7 && substr($body, 0, 5) eq "\x04PING";
	my $pong = "\x04PONG" . substr($body, 7);
	return write_all($s, chr(0x04) . chr(length $pong) . $pong);
}

# what a socket sent: forwarded, or kept while holding
sub from_socket
{
	my ($s, $buf) = @_;
	my $st = $stream{$s};
	$st->{in} .= $buf;
	while (my $u = next_unit($st))
	{
		my $type = $u->[1] ? frame_type($u->[2]) : undef;
		if ($st->{orphan})
		{
			if (defined $type) { note("orphaned $type") }
			else { return 0 unless answer_orphan_command($s, $u->[2]) }
			next;
		}
		my $kept_way = $holding && $st->{dir} eq $hold_dir;
		if ($kept_way && defined $type && (!%hold_types || $hold_types{$type}))
		{
			push @{ $st->{held} }, $u->[0];
			note("held $type");
			next;
		}
		# behind a kept message, everything waits when every type is kept
		if ($kept_way && !%hold_types && @{ $st->{held} })
		{
			push @{ $st->{held} }, $u->[0];
			next;
		}
		note("passed $type") if $kept_way && defined $type;
		return 0 unless write_all($peer{$s}, $u->[0]);
	}
	return 1;
}

# A connector went away: its connection to the target stays if requests of
# it are kept, else both close.
sub connector_gone
{
	my ($s) = @_;
	my $target = $peer{$s};
	my $st = $stream{$s};
	if (!$target || !$st || !@{ $st->{held} })
	{
		close_pair($s);
		return;
	}
	$stream{$target}{orphan} = 1;
	delete $peer{$target};
	delete $peer{$s};
	$select->remove($s);
	close $s;
	$st->{sock} = undef;    # its kept requests stay, for the target
	$stream{"orphaned $s"} = $st;
	delete $stream{$s};
}

sub release
{
	my $n = 0;
	for my $key (keys %stream)
	{
		my $st = $stream{$key} or next;
		my $units = $st->{held};
		$st->{held} = [];
		my $to = $st->{dest} // ($st->{sock} ? $peer{ $st->{sock} } : undef);
		for my $u (@$units)
		{
			$n++;
			last if !$to || !write_all($to, $u);
		}
		delete $stream{$key} unless $st->{sock};
	}
	$holding = 0;
	note("released $n");
}

sub read_hold_file
{
	$hold_dir = 'answers';
	%hold_types = ();
	return unless defined $log_path && open(my $f, '<', "$log_path.hold");
	for my $word (split ' ', join(' ', <$f>))
	{
		if ($word eq 'requests') { $hold_dir = 'requests' }
		else { $hold_types{$word} = 1 }
	}
	close $f;
}

while (1)
{
	if ($hold_asked)
	{
		$hold_asked = 0;
		$holding = 1;
		read_hold_file();
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
			if (defined $log_path && -e "$log_path.refuse")
			{
				note('refused a connection');
				close $client;
				next;
			}
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
			$stream{$client} = { sock => $client, dir => 'requests', in => '', greeting => 64, held => [],
				dest => $target };
			$stream{$target} = { sock => $target, dir => 'answers', in => '', greeting => 64, held => [] };
			$select->add($client, $target);
			next;
		}
		next unless $stream{$s};
		my $buf;
		my $n = sysread($s, $buf, 65536);
		if (!$n)
		{
			next if !defined $n && $!{EINTR};
			if ($stream{$s}{dir} eq 'requests') { connector_gone($s) }
			else { close_pair($s) }
			next;
		}
		close_pair($s) unless from_socket($s, $buf);
	}
}
