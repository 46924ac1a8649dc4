# The README's operator's guide, run as written (issue 20):
#  - the quick start: its blocks (marked "<!-- quickstart:NAME -->" in
#    README.md) are taken from the README with only what the guide says to
#    replace filled in (10.0.0.N:7701 becomes a free loopback port, the
#    directory /etc/postgresql/mantis one per server, the public keys those
#    mantis_keygen printed); two servers start with them, the extension and
#    roles are made as shown, a key set on n1 as "app" is read on n2, and the
#    monitoring queries, run as "monitoring", show exactly what the guide
#    shows;
#  - "Adding a server": n3 admitted and listed by the others first (their
#    collection waits for it), then started empty: everyone connected,
#    three members, collection by acknowledgement, the store copied;
#  - "Rotating a key", in the order the guide gives: n1's writes still reach
#    the others between the reloads and n1's restart, and every link is up
#    again after it, with the new key;
#  - "Removing a server": n3 stopped (collection by lifetime only, naming
#    it), taken out on one server (peers count other members), then on the
#    other: two members, collection by acknowledgement again.
use strict;
use warnings;

use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use MantisTest;

my $readme = slurp_file(dirname(__FILE__) . '/../../README.md');
my %block;
while ($readme =~ /^ *<!-- quickstart:([\w-]+) -->\n *```\w*\n(.*?)^ *```/msg)
{
	my ($name, $text) = ($1, $2);
	$text =~ s/^   //mg;    # the blocks sit in a numbered list
	$block{$name} = $text;
}
is(join(',', sort keys %block), 'all,check,check-output,keygen,n1,n2,peers,sql,try',
	'the quick start has its blocks');

# What the guide says to replace: the addresses and port, the directory
my $dir = PostgreSQL::Test::Utils::tempdir();
my @zmq = (undef, map { PostgreSQL::Test::Cluster::get_free_port() } 1 .. 3);
my @etc = (undef, map { mkdir "$dir/n$_" or die; "$dir/n$_" } 1 .. 3);
my @pub;

sub fill
{
	my ($text, $i) = @_;
	$text =~ s{/etc/postgresql/mantis}{$etc[$i]}g;
	$text =~ s{tcp://10\.0\.0\.(\d):7701}{tcp://127.0.0.1:$zmq[$1]}g;
	$text =~ s{<n(\d)'s public key>}{$pub[$1] // die "no key for n$1"}ge;
	return $text;
}

# step 2: a key pair per server, as mantis_keygen prints it
for my $line (split /\n/, $block{keygen})
{
	my ($cmd, $i) = $line =~ /^(mantis_keygen \S+ \S+)\s+# on n(\d): prints "n\d <n\d's public key>"$/
	  or die "unexpected keygen line: $line";
	my $out = `${\ fill($cmd, $i)}`;
	like($out, qr/^n$i \S{40}\n\z/, "mantis_keygen prints \"n$i <public key>\"");
	(undef, $pub[$i]) = split ' ', $out;
	is(sprintf('%o', (stat "$etc[$i]/n$i.key")[2] & 0777), '600', "n$i.key is mode 0600");
}

# step 3: the peers file, the same on every server
sub install_peers
{
	my ($text, @on) = @_;
	for my $i (@on)
	{
		open my $f, '>', "$etc[$i]/peers" or die;
		print $f fill($text, $i);
		close $f;
	}
}
my $peers = $block{peers};
install_peers($peers, 1, 2);

# step 4: postgresql.conf, then a start
my @node;
sub start_server
{
	my ($i, $conf) = @_;
	$node[$i] = PostgreSQL::Test::Cluster->new("n$i");
	$node[$i]->init;
	$node[$i]->append_conf('postgresql.conf', fill($block{all} . $conf, $i));
	$node[$i]->start;
	# step 5, as a superuser
	$node[$i]->safe_psql('postgres', $block{sql});
}
start_server($_, $block{"n$_"}) for 1, 2;

sub as
{
	my ($i, $role, $sql, @params) = @_;
	my ($rc, $out, $err) = $node[$i]->psql('postgres', $sql, extra_params => [ '-U', $role, @params ]);
	return $rc == 0 ? $out : "ERROR: $err";
}

# a query's result, polled until it is what is expected (for 60 s; for
# $live_within seconds where the guide says it goes live, well under the
# 11 s of the earliest repair round)
our $live_within;
sub wait_for
{
	my ($i, $role, $sql, $want, $what, @params) = @_;
	my $deadline = time + ($live_within // 60);
	my $out;
	while (1)
	{
		# psql pads a line's last column with spaces, and ends aligned
		# output with an empty line: the README keeps neither
		($out = as($i, $role, $sql, @params)) =~ s/ +$//mg;
		$out =~ s/\n+\z//;
		last if (ref $want ? $out =~ $want : $out eq $want) || time > $deadline;
		usleep(100_000);
	}
	ref $want ? like($out, $want, $what) : is($out, $want, $what);
}

# step 6: set on one, read on the other, as app
for my $line (grep { /\S/ } split /\n/, $block{try})
{
	my ($sql, $i, $want) = $line =~ /^(.*?;)\s*-- on n(\d)(?:: (.*))?$/
	  or die "unexpected line: $line";
	if (defined $want) { wait_for($i, 'app', $sql, $want, "as app on n$i: $sql gives $want") }
	else { is(as($i, 'app', $sql), '', "as app on n$i: $sql") }
}

# step 7: the monitoring queries show what the guide shows, on each server
my @aligned = ('-P', 'format=aligned', '-P', 'tuples_only=off', '-P', 'footer=on');
(my $shown = $block{'check-output'}) =~ s/\n\z//;
for my $i (1, 2)
{
	my $want = $shown;
	$want =~ s/\bn([12])\b/'n' . (3 - $1)/ge if $i == 2;    # "n2 alike"
	wait_for($i, 'monitoring', $block{check}, $want, "as monitoring on n$i, the check shows what the guide shows",
		@aligned);
}


# --- Adding a server ----------------------------------------------------------
# steps 1-2: n3's key, the peers file everywhere, n3 in the others' mantis.peers
my $out = `mantis_keygen n3 $etc[3]/n3.key`;
(undef, $pub[3]) = split ' ', $out;
$peers .= "n3 <n3's public key> tcp://10.0.0.3:7701\n";
install_peers($peers, 1, 2, 3);
my %listed = (1 => [ 2, 3 ], 2 => [ 1, 3 ], 3 => [ 1, 2 ]);
sub peers_line
{
	my ($i) = @_;
	return fill("mantis.peers = '" . join(', ', map { "tcp://10.0.0.$_:7701" } @{ $listed{$i} }) . "'\n", $i);
}
for my $i (1, 2)
{
	$node[$i]->append_conf('postgresql.conf', peers_line($i));
	$node[$i]->reload;
}
wait_for(1, 'monitoring', 'SELECT collection FROM mantis_status', qr/^lifetime only: a listed peer has not answered/,
	'adding n3: once listed, and until it answers, collection waits for it');

# step 3: n3 with the quick start's configuration and its own lines, empty
(my $n3 = $block{n1}) =~ s/\bn1\b/n3/g;
$n3 =~ s{tcp://10\.0\.0\.1:7701}{tcp://10.0.0.3:7701};
$n3 =~ s/^mantis\.peers = .*$/peers_line(3)/me;
start_server(3, $n3);

# step 4: everyone connected, three members, by acknowledgement, the store copied
for my $i (1 .. 3)
{
	wait_for($i, 'monitoring', q{SELECT count(*) FROM mantis_peers WHERE state = 'connected'}, '2',
		"adding n3: n$i has 2 peers connected");
	wait_for($i, 'monitoring', 'SELECT members, collection FROM mantis_status', '3|by acknowledgement',
		"adding n3: n$i counts 3 members and collects by acknowledgement");
}
wait_for(3, 'app', q{SELECT mantis_get('checkout.new_flow')}, 'on', 'adding n3: n3 has the store');

# --- Rotating a key (n1's) ----------------------------------------------------
# step 1: a new key pair in a new file
$out = `mantis_keygen n1 $etc[1]/n1-2026.key`;
like($out, qr/^n1 \S{40}\n\z/, 'rotating: a new key pair for n1');
my $old = $pub[1];
(undef, $pub[1]) = split ' ', $out;
isnt($pub[1], $old, 'rotating: a new public key');
# step 2: the peers file with n1's new key everywhere; every server but n1 reloads
install_peers($peers, 1, 2, 3);
$_->reload for @node[ 2, 3 ];
# they re-dial n1, which still has its old key; n1's own links carry on
as(1, 'app', q{SELECT mantis_set('rotation.during', 'n1 before its restart')});
for my $i (2, 3)
{
	local $live_within = 5;
	wait_for($i, 'app', q{SELECT mantis_get('rotation.during')}, 'n1 before its restart',
		"rotating: between the reloads and n1's restart, n1's writes reach n$i live");
}
# step 3: n1 takes its new key at a restart
$node[1]->append_conf('postgresql.conf', fill("mantis.curve_secret_key_file = '/etc/postgresql/mantis/n1-2026.key'\n", 1));
$node[1]->restart;
# step 4: every link up again
for my $i (1 .. 3)
{
	wait_for($i, 'monitoring', q{SELECT count(*) FROM mantis_peers WHERE state = 'connected'}, '2',
		"rotating: after n1's restart n$i has 2 peers connected");
}
as(1, 'app', q{SELECT mantis_set('rotation.after', 'new key')});
as(2, 'app', q{SELECT mantis_set('rotation.back', 'to n1')});
{
	local $live_within = 5;
	wait_for($_, 'app', q{SELECT mantis_get('rotation.after')}, 'new key', "rotating: n1's writes reach n$_ live with its new key")
	  for 2, 3;
	wait_for(1, 'app', q{SELECT mantis_get('rotation.back')}, 'to n1', 'rotating: and the others reach n1 live');
}
unlike(slurp_file($node[$_]->logfile), qr/refused a client at .* whose CURVE key is not in/,
	"rotating in this order, n$_ refused nobody") for 1 .. 3;

# --- Removing a server (n3) ---------------------------------------------------
# step 1: n3 stops; the others collect by lifetime only, and say why
$node[3]->stop;
wait_for(1, 'monitoring', 'SELECT collection FROM mantis_status', 'lifetime only: a peer is down or has not greeted us (n3)',
	'removing n3: once stopped, collection is by lifetime only, naming n3');
# step 2: out of mantis.peers and the peers file, one server, then the other
$peers =~ s/^n3 .*\n//m;
install_peers($peers, 1, 2);
@listed{ 1, 2 } = ([2], [1]);
$node[1]->append_conf('postgresql.conf', peers_line(1));
$node[1]->reload;
wait_for(1, 'monitoring', 'SELECT collection FROM mantis_status', 'lifetime only: peers count other members (n2)',
	'removing n3: taken out on n1 only, peers count other members');
$node[2]->append_conf('postgresql.conf', peers_line(2));
$node[2]->reload;
for my $i (1, 2)
{
	wait_for($i, 'monitoring', 'SELECT members, collection FROM mantis_status', '2|by acknowledgement',
		"removing n3: taken out everywhere, n$i counts 2 members and collects by acknowledgement");
}
# and a deletion is collected within seconds again
as(1, 'app', q{SELECT mantis_delete('rotation.during')});
wait_for($_, 'monitoring', 'SELECT collected_deletions >= 1 AND deleted_keys = 0 FROM mantis_status', 't',
	"removing n3: a deletion is collected on n$_") for 1, 2;

$node[$_]->stop for 1, 2;
done_testing();
