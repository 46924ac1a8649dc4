#!/usr/bin/perl
# mantis from Perl: DBI with DBD::Pg (Debian's libdbd-pg-perl), as an
# application uses it: placeholders, no casts, selectrow_array.  The same
# checks run on a connection to the server, then through PgBouncer in
# transaction mode with pg_server_prepare => 0: by default DBD::Pg
# prepares each statement on the server under a name, and a statement
# handle executed again may be handed another server connection, where
# that name is unknown (see the last check).
#
# The connection comes from APP_HOST, APP_PORT, BOUNCER_PORT, APP_DB,
# APP_USER and APP_PASSWORD (set by test/clients/run.sh).  The role has only
# `GRANT mantis_writer, mantis_monitor TO app`.
#
# Output: one "ok N - ..." or "not ok N - ..." line per check, then a
# count; the exit status is 1 when any check failed.

use strict;
use warnings;
use B ();
use DBI;
use DBD::Pg;

$| = 1;
my %E = %ENV;
my ($count, @failed) = (0);

sub check {
	my ($name, $body) = @_;
	$count++;
	if (eval { $body->(); 1 }) {
		print "ok $count - $name\n";
	} else {
		my $err = $@ || 'unknown error';
		$err =~ s/\s+$//;
		$err =~ s/\n/\n#   /g;
		push @failed, $name;
		print "not ok $count - $name\n#   $err\n";
	}
}

sub show { defined $_[0] ? "'$_[0]'" : 'undef' }

# Perl has no booleans of its own: DBD::Pg reads a boolean as 1 or 0, and
# an integer as a number (IV), not a string
sub is_number {
	my ($v) = @_;
	return 0 unless defined $v;
	my $flags = B::svref_2object(\$v)->FLAGS;
	return ($flags & (B::SVf_IOK | B::SVf_NOK)) && !($flags & B::SVf_POK);
}

sub eq_num {    # got is the number want, held as a number
	my ($got, $want, $what) = @_;
	die "$what: got " . show($got) . ", want $want (a number)\n"
	  unless defined $got && is_number($got) && $got == $want;
}

sub eq_str {
	my ($got, $want, $what) = @_;
	die "$what: got " . show($got) . ", want " . show($want) . "\n"
	  unless (defined $got ? $got : "\0undef") eq (defined $want ? $want : "\0undef");
}

sub ok_ { die "$_[1]\n" unless $_[0] }

# the code fails with a server error whose SQLSTATE is $code, as DBI
# exposes it: $dbh->state (also $DBI::state)
sub raises {
	my ($code, $dbh, $body, $what) = @_;
	my $result = eval { $body->() };
	if (!$@) {
		die "$what: no error (returned " . show($result) . "), want SQLSTATE $code\n";
	}
	my $state = $dbh->state;
	die "$what: SQLSTATE $state, want $code ($@)\n" unless $state eq $code;
}

sub connect_app {
	my ($port, %opt) = @_;
	my $db = $opt{db} // $E{APP_DB};
	my $password = $opt{password} // $E{APP_PASSWORD};
	my $attr = { AutoCommit => 1, RaiseError => 1, PrintError => 0, pg_enable_utf8 => 1 };
	$attr->{pg_server_prepare} = $opt{server_prepare} if exists $opt{server_prepare};
	return DBI->connect("dbi:Pg:host=$E{APP_HOST};port=$port;dbname=$db",
		$E{APP_USER}, $password, $attr);
}

sub scenario {
	my ($label, $port, %opt) = @_;
	my $pfx = "perl/$label/";
	my $dbh = connect_app($port, %opt);
	my $one = sub { my ($sql, @bind) = @_; (($dbh->selectrow_array($sql, undef, @bind))[0]) };

	check("$label: connected as app over TCP with a password; not a superuser", sub {
		my ($u, $tcp, $su) = $dbh->selectrow_array(
			'SELECT current_user::text, inet_server_addr() IS NOT NULL,
			        (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)');
		eq_str($u, 'app', 'current_user');
		ok_($tcp && !$su, "TCP $tcp, superuser $su");
		my $wrong = eval { connect_app($port, password => 'not the password') };
		ok_(!$wrong, 'a wrong password was accepted');
		# "password authentication failed" from the server, "SASL
		# authentication failed" from PgBouncer
		ok_($DBI::errstr =~ /authentication failed/, "wrong password: $DBI::errstr");
	});

	check("$label: a flag set to 1 reads 1 with mantis_get_bool, with and without a default", sub {
		$one->('SELECT mantis_set(?, ?)', "${pfx}dark", 1);
		eq_num($one->('SELECT mantis_get_bool(?)', "${pfx}dark"), 1, 'mantis_get_bool');
		eq_num($one->('SELECT mantis_get_bool(?, ?)', "${pfx}dark", 0), 1, 'with default 0');
		$one->('SELECT mantis_set(?, ?)', "${pfx}dark", 'off');
		eq_num($one->('SELECT mantis_get_bool(?, ?)', "${pfx}dark", 1), 0, "stored 'off'");
	});

	check("$label: an absent flag is undef, and its default false a number 0 (false)", sub {
		eq_str($one->('SELECT mantis_get_bool(?)', "${pfx}absent"), undef, 'no default');
		my $v = $one->('SELECT mantis_get_bool(?, ?)', "${pfx}absent", 0);
		eq_num($v, 0, 'default 0');
		ok_(!$v, 'it is false');
	});

	# DBD::Pg 3.19 binds Perl's native false (5.36 and later) as false;
	# before, as its text, the empty string
	if ($DBD::Pg::VERSION >= 3.019 && $] >= 5.036)
	{
		check("$label: Perl's false (!!0) binds as false (DBD::Pg $DBD::Pg::VERSION)", sub {
			eq_num($one->('SELECT mantis_get_bool(?, ?)', "${pfx}absent", !!0), 0, 'mantis_get_bool(key, !!0)');
		});
	}
	else
	{
		check("$label: pitfall: Perl's false (!!0, the empty string) is no boolean input: 22P02; pass 0", sub {
			raises('22P02', $dbh, sub { $one->('SELECT mantis_get_bool(?, ?)', "${pfx}absent", !!0) },
				'mantis_get_bool(key, !!0)');
		});
	}

	check("$label: an integer over 32767 reads as a number with mantis_get_int", sub {
		$one->('SELECT mantis_set(?, ?)', "${pfx}limit", 100000);
		eq_num($one->('SELECT mantis_get_int(?)', "${pfx}limit"), 100000, 'mantis_get_int');
		eq_num($one->('SELECT mantis_get_int(?, ?)', "${pfx}limit", 100), 100000, 'with a default');
		eq_num($one->('SELECT mantis_get_int(?, ?)', "${pfx}absent", 100), 100, 'absent, its default');
		eq_num($one->('SELECT mantis_get_int(?, ?)', "${pfx}absent", 5000000000), 5000000000,
			'a default past 2^31');
		$one->('SELECT mantis_set(?, ?)', "${pfx}word", 'abc');
		raises('22P02', $dbh, sub { $one->('SELECT mantis_get_int(?, ?)', "${pfx}word", 0) },
			"'abc' read with mantis_get_int");
	});

	check("$label: mantis_set(key, undef) fails with 22004 and changes nothing", sub {
		$one->('SELECT mantis_set(?, ?)', "${pfx}kept", 'here');
		raises('22004', $dbh, sub { $one->('SELECT mantis_set(?, ?)', "${pfx}kept", undef) },
			'mantis_set(key, undef)');
		eq_str($one->('SELECT mantis_get(?)', "${pfx}kept"), 'here', 'the value after the failed set');
		eq_num($one->('SELECT mantis_delete(?)', "${pfx}kept"), 1, 'mantis_delete deletes');
		eq_str($one->('SELECT mantis_get(?)', "${pfx}kept"), undef, 'after mantis_delete');
	});

	check("$label: mantis_ttl_ms is a number: the milliseconds left, undef without an expiry", sub {
		$one->('SELECT mantis_set(?, ?, ?)', "${pfx}session", 'token', '30 seconds');
		my $ms = $one->('SELECT mantis_ttl_ms(?)', "${pfx}session");
		ok_(is_number($ms) && $ms > 25000 && $ms <= 30000, 'mantis_ttl_ms ' . show($ms));
		eq_str($one->('SELECT mantis_ttl_ms(?)', "${pfx}limit"), undef, 'a key without an expiry');
	});

	$dbh->disconnect;
}

eval {
	scenario('direct', $E{APP_PORT});
	scenario('pgbouncer', $E{BOUNCER_PORT}, server_prepare => 0);

	# PgBouncer hands each transaction the server connection used last
	# (LIFO) unless another client holds it: hold it with an open
	# transaction, and a statement prepared before runs on another one.
	check('pgbouncer: pitfall: with server-side prepares (the default) a statement prepared on one '
	  . 'server connection is missing on the next (26000)', sub {
		my $sql = 'SELECT mantis_get_bool(?, ?)';
		my $a = connect_app($E{BOUNCER_PORT});
		my $hold = connect_app($E{BOUNCER_PORT}, server_prepare => 0);
		my $sth = $a->prepare($sql);
		# DBD::Pg prepares on the server at the second execute (pg_switch_prepared)
		for my $n (1, 2) {
			$sth->execute('perl/pgbouncer/absent', 0);
			eq_num(($sth->fetchrow_array)[0], 0, "execute $n");
		}
		$hold->begin_work;
		$hold->do('SELECT 1');
		my $ok = eval { $sth->execute('perl/pgbouncer/absent', 0); 1 };
		my $state = $a->state;
		$hold->rollback;
		ok_(!$ok && $state eq '26000',
			'the third execute: ' . ($ok ? 'no error, want 26000' : "SQLSTATE $state ($@)"));
		{ local $a->{PrintWarn} = 0; local $SIG{__WARN__} = sub {}; undef $sth; }
		$a->disconnect;

		# the same with pg_server_prepare => 0
		$a = connect_app($E{BOUNCER_PORT}, server_prepare => 0);
		$sth = $a->prepare($sql);
		for my $n (1, 2) {
			$sth->execute('perl/pgbouncer/absent', 0);
			eq_num(($sth->fetchrow_array)[0], 0, "execute $n, pg_server_prepare => 0");
		}
		$hold->begin_work;
		$hold->do('SELECT 1');
		$sth->execute('perl/pgbouncer/absent', 0);
		eq_num(($sth->fetchrow_array)[0], 0, 'execute 3, pg_server_prepare => 0');
		$hold->rollback;
		undef $sth;
		$_->disconnect for $a, $hold;
	});
	1;
} or do {
	push @failed, 'the program';
	print "not ok - the program stopped: $@";
};

print "# $count checks, " . scalar(@failed) . " failed\n";
print "#   failed: $_\n" for @failed;
exit(@failed || !$count ? 1 : 0);
