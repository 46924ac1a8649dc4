# MantisWatch.pm — helpers of the change feed's TAP tests (test/t/068-072):
# mantis_changes() read as a client reads it, and mantis_wait() run in a
# session of its own while the test goes on.
#
# Keys, values and prefixes given to these helpers are plain ASCII without
# quotes or '|'.
package MantisWatch;

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(usleep time);

use Exporter 'import';
our @EXPORT = qw(feed feed_sqlstate follow feed_until start_wait wait_sleeping wait_finished
  finish_wait cursor_past_now);

sub quoted { my ($s) = @_; return defined $s ? "'$s'" : 'NULL' }

# feed(node, since, prefix) — one answer of mantis_changes(since, prefix)
# (since undef: the snapshot), as a hash: rows => { key => value, or
# '<deleted>' }, nodes => { key => node }, n => the rows' count (a key
# twice would show here), cursors => how many distinct cursors the rows
# carry, cursor => the one of the answer (undef with no rows).  Dies on an
# error.
sub feed
{
	my ($node, $since, $prefix) = @_;
	my $out = $node->safe_psql('postgres',
		sprintf(q{SELECT key, coalesce(value, '<deleted>'), deleted, node, cursor
		            FROM mantis_changes(%s, %s)}, quoted($since), quoted($prefix // '')));
	my %a = (rows => {}, nodes => {}, n => 0, cursor => undef);
	my %cursors;
	for my $line (split /\n/, $out)
	{
		my ($key, $value, $deleted, $n, $cursor) = split /\|/, $line;
		die "a deleted row with a value: $line" if $deleted eq 't' && $value ne '<deleted>';
		$a{rows}{$key} = $value;
		$a{nodes}{$key} = $n;
		$a{n}++;
		$cursors{$cursor} = 1;
		$a{cursor} = $cursor;
	}
	$a{cursors} = scalar keys %cursors;
	return \%a;
}

# feed_sqlstate(node, since, prefix) — the SQLSTATE of the error that
# mantis_changes(since, prefix) raises, '' if it answers.
sub feed_sqlstate
{
	my ($node, $since, $prefix) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		sprintf("\\set VERBOSITY sqlstate\nSELECT count(*) FROM mantis_changes(%s, %s)",
			quoted($since), quoted($prefix // '')));
	return $err =~ /ERROR:\s+(\w{5})/ ? $1 : '';
}

# follow(node, since, prefix) — what a client following the feed learns:
# answers one after the other, each from the cursor of the one before,
# until one has no rows.  Returns (the last state of each key, as feed's
# rows, the cursor to pass next, the answers' count).
sub follow
{
	my ($node, $since, $prefix) = @_;
	my %seen;
	my $cursor = $since;
	my $answers = 0;
	for (1 .. 100)
	{
		my $a = feed($node, $cursor, $prefix);
		$answers++;
		die "an answer with $a->{cursors} cursors" if $a->{n} > 0 && $a->{cursors} != 1;
		last if $a->{n} == 0;
		%seen = (%seen, %{ $a->{rows} });
		$cursor = $a->{cursor};
		return (\%seen, $cursor, $answers) if !defined $since;    # a snapshot, once
	}
	return (\%seen, $cursor, $answers);
}

# cursor_past_now(node) — a cursor of the node whose held_ts has passed
# the time of the call (what the node holds of its peers may trail its
# clock): every write made before the call lies at or below it.
sub cursor_past_now
{
	my ($n) = @_;
	my $now_ms = $n->safe_psql('postgres', q{SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint + 1});
	$n->poll_query_until('postgres',
		qq{SELECT (('x' || substr(mantis_cursor(), 56, 16))::bit(64)::bigint >> 16) > $now_ms})
	  or die $n->name . "'s cursor never passed $now_ms";
	return $n->safe_psql('postgres', 'SELECT mantis_cursor()');
}

# feed_until(node, since, prefix, key, value) — poll mantis_changes(since,
# prefix) until its answer shows key with value ('<deleted>' for a dead
# key); returns the answer, or the last one seen (false test) at the
# default timeout.
sub feed_until
{
	my ($node, $since, $prefix, $key, $value) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	my $a;
	while (time() < $deadline)
	{
		$a = feed($node, $since, $prefix);
		return $a if defined $a->{rows}{$key} && $a->{rows}{$key} eq $value;
		usleep(50_000);
	}
	diag("$key never showed $value; last: " . join(' ', map { "$_=$a->{rows}{$_}" } sort keys %{ $a->{rows} }));
	return $a;
}

# start_wait(node, sql) — run sql (a query over mantis_wait) in a session
# of its own; returns a handle at once, with its backend's pid.
sub start_wait
{
	my ($node, $sql) = @_;
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	$bg->{stdout} = '';
	$bg->{stderr} = '';
	$bg->{stdin} .= "$sql;\n\\echo 'watch: done'\n\\warn 'watch: done'\n";
	$bg->{run}->pump_nb;
	return { bg => $bg, pid => $pid, node => $node, started => time() };
}

# wait_sleeping(handle) — until its session sleeps in mantis_wait (wait
# event "Extension"); false if it never does.
sub wait_sleeping
{
	my ($w) = @_;
	return $w->{node}->poll_query_until('postgres',
		qq{SELECT wait_event_type = 'Extension' FROM pg_stat_activity WHERE pid = $w->{pid}});
}

# wait_finished(handle) — whether its query has ended, without waiting.
sub wait_finished
{
	my ($w) = @_;
	$w->{bg}{run}->pump_nb;
	return $w->{bg}{stdout} =~ /watch: done/ && $w->{bg}{stderr} =~ /watch: done/;
}

# finish_wait(handle, keep) — until its query ends; returns (stdout,
# stderr), and closes the session unless keep.
sub finish_wait
{
	my ($w, $keep) = @_;
	my $bg = $w->{bg};
	$bg->{run}->pump until ($bg->{stdout} =~ /watch: done/ && $bg->{stderr} =~ /watch: done/)
	  || $bg->{timeout}->is_expired;
	die 'the wait never ended' if $bg->{timeout}->is_expired;
	my ($out, $err) = ($bg->{stdout}, $bg->{stderr});
	s/\n?watch: done\n?// for $out, $err;
	$bg->{stdout} = '';
	$bg->{stderr} = '';
	$bg->quit unless $keep;
	return ($out, $err);
}

1;
