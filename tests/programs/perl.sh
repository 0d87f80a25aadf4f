#!/usr/bin/env bash
# perl under LD_PRELOAD: hashes, regexes, string building, sort, pack/unpack,
# closures and fork; output must equal the plain run's.
# usage: tests/programs/perl.sh <path-to-allocator.so>
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hz_init "$@"

if ! hz_have perl; then
  hz_skip perl "perl not installed (linux/install_deps.sh)"
  hz_finish
fi

cat >work.pl <<'EOF'
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);
use List::Util qw(sum max shuffle);

my $seed = 42;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed; }
sub out { my ($name, $s) = @_; print "$name: ", md5_hex($s), " ", length($s), "\n"; }

# Hashes of many sizes with churn.
my @sizes = (0, 1, 7, 8, 100, 1000, 20000, 200000);
my $acc = '';
for my $n (@sizes) {
    my %h;
    $h{"key$_"} = "v" x ($_ % 97) for 1 .. $n;
    delete $h{"key$_"} for grep { $_ % 3 == 0 } 1 .. $n;
    $h{"new$_"} = [ map { $_ * 2 } 1 .. ($_ % 11) ] for 1 .. $n / 4;
    my @k = sort keys %h;
    $acc .= join(",", scalar(@k), @k[0 .. ($#k < 20 ? $#k : 20)]) . ";";
}
my %hoh;
for my $i (1 .. 50000) {
    $hoh{ rnd() % 1000 }{ rnd() % 100 } .= chr(65 + $i % 26);
}
$acc .= join("|", map { my $o = $_; join(":", $o, map { "$_=$hoh{$o}{$_}" } sort { $a <=> $b } keys %{ $hoh{$o} }) } sort { $a <=> $b } keys %hoh);
out("hashes", $acc);

# String building of many sizes.
my $s = '';
$s .= sprintf("%06d|", $_) for 1 .. 200000;
my @chunks;
for my $e (0 .. 22) {
    push @chunks, ("ab" x (1 << $e)) . "\n";
}
my $joined = join("", map { substr($_, 0, 1000) } @chunks);
my $rep = "xyz" x 1_000_000;
substr($rep, 1000, 10) = "HELLO";
my $rev = reverse $s;
out("strings", join("/", length($s), md5_hex($s), md5_hex($joined), md5_hex($rep), md5_hex($rev),
                    map { length } @chunks));

# Regexes: match, capture, global substitution, split.
my $text = join("\n", map { "user$_\@host" . ($_ % 97) . ".example id=" . ($_ * 7919 % 100003) . " " . ("x" x ($_ % 40)) } 1 .. 100000);
my @m = $text =~ /user(\d+)\@host(\d+)\.example id=(\d+)/g;
(my $sub = $text) =~ s/x{10,}/length($&)/ge;
my @words = split /[\s@.=]+/, $text;
my %count;
$count{$_}++ for @words;
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 30];
out("regex", join(",", scalar(@m), @m[0 .. 50], md5_hex($sub), scalar(@words), @top));

# Sorting numbers, strings, records.
my @nums = map { rnd() % 1000000 - 500000 } 1 .. 300000;
my @strs = map { my $l = 1 + rnd() % 20; join("", map { chr(97 + rnd() % 26) } 1 .. $l) } 1 .. 100000;
my @recs = map { [ $strs[$_], $_ % 100, -$_ ] } 0 .. $#strs;
my @sn = sort { $a <=> $b } @nums;
my @ss = sort @strs;
my @sr = sort { $a->[1] <=> $b->[1] or $a->[0] cmp $b->[0] or $a->[2] <=> $b->[2] } @recs;
out("sort", join(",", @sn[map { $_ * 1000 } 0 .. 299], @ss[map { $_ * 500 } 0 .. 199],
                 map { "@$_" } @sr[map { $_ * 700 } 0 .. 142]));

# pack/unpack, closures, arrays of arrays, local garbage.
my @subs = map { my $k = $_; sub { return $k * $_[0] + length($_[1]) } } 1 .. 5000;
my $t = 0;
$t += $subs[$_ % 5000]->($_, "z" x ($_ % 50)) for 1 .. 200000;
my $packed = pack("N*", 1 .. 100000);
my @un = unpack("N*", $packed);
my @aoa = map { [ (1) x ($_ % 100) ] } 1 .. 20000;
out("misc", join(",", $t, sum(@un), length($packed), sum(map { scalar @$_ } @aoa)));

# fork: the child allocates and reports through a pipe.
my @fr;
for my $k (1 .. 3) {
    pipe(my $r, my $w) or die;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        close $r;
        my %c = map { $_ => "c" x ($_ % 30) } 1 .. 30000 + $k;
        print $w md5_hex(join(",", map { "$_=$c{$_}" } sort { $a <=> $b } keys %c));
        close $w;
        exit 0;
    }
    close $w;
    local $/;
    my $d = <$r>;
    close $r;
    waitpid($pid, 0);
    push @fr, "$d:$?";
}
out("fork", join(",", @fr));
print "done\n";
EOF

hz_compare perl-workload -- env PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 perl work.pl
# shellcheck disable=SC2016 # perl program, not shell
hz_compare perl-oneliner -- perl -e '
  my %h; $h{$_ % 1000} .= $_ for 1 .. 500000;
  my $n = 0; $n += length $h{$_} for keys %h;
  my @w = sort map { scalar reverse $_ } values %h;
  print "$n ", length(join "", @w), "\n";'
hz_finish
