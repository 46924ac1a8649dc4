# 078: a follower of the feed whose server loses a write it was given
# (crash restart within the flush interval; fail-over to a peer that never
# got it, its writer dead) should be told (MT001), not left holding the
# lost value.  KNOWN BREAK, marked TODO: a cursor says what its server
# held of its peers, not the newest HLC its answers gave, so no server can
# tell that it lacks what the follower has (a fix needs that number in the
# cursor, and a restart the HLC through which its rows were flushed).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use MantisTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();

# Follow the feed from a cursor: returns (new cursor, error sqlstate or '')
sub follow
{
	my ($node, $map, $cursor) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT key, coalesce(value,'<null>'), deleted, cursor FROM mantis_changes('$cursor')");
	if ($ret != 0)
	{
		my ($state) = $err =~ /ERROR:\s+(\w{5}):/;
		note "error: $err";
		return ($cursor, $state // $err);
	}
	for my $line (split /\n/, $out)
	{
		my ($k, $v, $d, $c) = split /\|/, $line;
		if ($d eq 't') { delete $map->{$k} } else { $map->{$k} = $v }
		$cursor = $c;
	}
	return ($cursor, '');
}

sub snapshot
{
	my ($node, $map) = @_;
	%$map = ();
	my $out = $node->safe_psql('postgres', "SELECT key, value FROM mantis_changes(NULL)");
	$map->{$_->[0]} = $_->[1] for map { [ split /\|/ ] } split /\n/, $out;
	return $node->safe_psql('postgres', "SELECT mantis_cursor()");
}

sub held
{
	my ($node) = @_;
	my %m;
	my $out = $node->safe_psql('postgres', "SELECT key, value FROM mantis_changes(NULL)");
	$m{$_->[0]} = $_->[1] for map { [ split /\|/ ] } split /\n/, $out;
	return join(',', map { "$_=$m{$_}" } sort keys %m);
}

# wait until a cursor of the node vouches for an HLC past now (its sweep
# and its peers caught up): so that a scan from it skips what came before
sub wait_cursor_past_now
{
	my ($node) = @_;
	my $ms = int(Time::HiRes::time() * 1000) + 5;
	$node->poll_query_until('postgres',
		"SELECT ('x' || right(mantis_cursor(), 16))::bit(64)::bigint >> 16 > $ms") or die 'cursor stuck';
}

sub show { my ($m) = @_; join(',', map { "$_=$m->{$_}" } sort keys %$m) }

# --- a crash restart of the followed server, within the flush interval ---
{
	my $n = mantis_node('solo', "mantis.flush_interval = '1h'\n");
	$n->safe_psql('postgres', "SELECT mantis_set('k', 'v1'); SELECT mantis_flush()");
	wait_cursor_past_now($n);
	my %map;
	my $cursor = $n->safe_psql('postgres', "SELECT cursor FROM mantis_changes(NULL) LIMIT 1");
	snapshot($n, \%map);
	$cursor = $n->safe_psql('postgres', "SELECT mantis_cursor()");
	$n->safe_psql('postgres', "SELECT mantis_set('k', 'v2')");
	wait_cursor_past_now($n);
	my $err;
	($cursor, $err) = follow($n, \%map, $cursor);
	is($map{k}, 'v2', 'follower got v2');
	$n->stop('immediate');
	$n->start;
	wait_loaded($n);
	($cursor, $err) = follow($n, \%map, $cursor);
	local $TODO = 'a write lost in a crash restart stays in the follower\'s map';
	if ($err eq 'MT001') { pass('MT001 after a crash restart that lost a write') }
	else { is(show(\%map), held($n), "crash restart: follower's map is what the server holds (err '$err')") }
	$n->stop;
}

# --- fail-over to a peer that never got the write, its writer dead ---
{
	my $c = mantis_cluster(2, "mantis.flush_interval = '1h'\n");
	my ($n1, $n2) = @{ $c->{nodes} }[1, 2];
	$n1->safe_psql('postgres', "SELECT mantis_set('k', 'v1')");
	wait_converged($n1, $n2) or die;
	wait_cursor_past_now($n1);
	my %map;
	snapshot($n1, \%map);
	my $cursor = $n1->safe_psql('postgres', "SELECT mantis_cursor()");
	isolate($c, 1);
	$n1->safe_psql('postgres', "SELECT mantis_set('k', 'v2'); SELECT mantis_set('j', 'new')");
	my $err;
	($cursor, $err) = follow($n1, \%map, $cursor);
	is($map{k}, 'v2', 'follower of n1 got v2');
	$n1->stop('immediate');
	($cursor, $err) = follow($n2, \%map, $cursor);
	local $TODO = 'a write of a dead writer stays in the follower\'s map after fail-over';
	if ($err eq 'MT001') { pass('MT001 on n2: it lacks what n1 gave') }
	else { is(show(\%map), held($n2), "fail-over: follower's map is what n2 holds (err '$err')") }
	$n2->stop;
	rejoin($c, 1);
}

done_testing();
