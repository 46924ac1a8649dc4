#!/usr/bin/perl
#
# tcp_proxy.pl LISTEN_PORT TARGET_PORT — a minimal TCP proxy on 127.0.0.1,
# used by the multi-node tests to cut network links: killing the proxy
# resets every connection through it (a partition), starting it again on
# the same port heals the link.  One process, one select loop, no forks.
#
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;

my ($listen_port, $target_port) = @ARGV;
die "usage: $0 LISTEN_PORT TARGET_PORT\n" unless $target_port;

my $server = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => $listen_port,
	Listen => 64,
	ReuseAddr => 1,
	Proto => 'tcp') or die "cannot listen on $listen_port: $!\n";

$SIG{TERM} = $SIG{INT} = sub { exit 0 };

my $select = IO::Select->new($server);
my %peer;    # socket => the socket at the other end

sub close_pair
{
	my ($s) = @_;
	my $o = delete $peer{$s};
	$select->remove($s);
	close $s;
	if ($o)
	{
		delete $peer{$o};
		$select->remove($o);
		close $o;
	}
}

while (1)
{
	for my $s ($select->can_read)
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
		my $o = $peer{$s};
		my $off = 0;
		while ($off < $n)
		{
			my $w = syswrite($o, $buf, $n - $off, $off);
			if (!defined $w)
			{
				close_pair($s);
				last;
			}
			$off += $w;
		}
	}
}
