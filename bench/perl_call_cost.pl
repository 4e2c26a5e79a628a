#!/usr/bin/perl
# The Perl side of one fabric call alone: user and system CPU per uwsgi::call of a PSGI child
# (its psgi_child.pl loaded as a library) against a trivial responder process on a socketpair,
# so the worker's cost is left out. FILE 'bare' times a bare syswrite + sysread instead (the
# floor of the same round trip).
#
#     perl bench/perl_call_cost.pl bridges/perl/psgi_child.pl [CALLS]
#     perl bench/perl_call_cost.pl bare [CALLS]
use strict;
use warnings;
use File::Spec ();
use Socket;
use Time::HiRes qw(time);

my ($file, $calls) = @ARGV;
$calls ||= 100000;
die "usage: $0 psgi_child.pl|bare [CALLS]\n" unless $file;
socketpair(my $ours, my $theirs, AF_UNIX, SOCK_STREAM, 0) or die "socketpair: $!\n";
binmode $_ for $ours, $theirs;
my $pid = fork // die "fork: $!\n";
if (!$pid) {    # the responder: one RESULT 'x' per packet read
    close $ours;
    my $reply = pack('CvC', 211, 3, 0) . pack('v/a*', 'x');
    my $buf;
    syswrite($theirs, $reply) while sysread($theirs, $buf, 65536);
    exit 0;
}
close $theirs;
my $call;
if ($file eq 'bare') {
    my $message = pack('CvC', 210, 18, 0) . pack('(v/a*)*', 'call', 'py_echo', 'x');
    my $buf;
    $call = sub { syswrite($ours, $message); sysread($ours, $buf, 262144); return 'x' };
}
else {
    require File::Spec->rel2abs($file);
    no warnings 'once';
    $polyhost::psgi::SOCK = $ours;
    $call = sub { return uwsgi::call('py_echo', 'x') };
}
$call->() eq 'x' or die "the responder's answer did not come back\n";
my @before = times;
my $start = time;
$call->() for 1 .. $calls;
my $elapsed = time - $start;
my @after = times;
printf "%s: %.0f calls/s, caller user %.2f sys %.2f us/call\n", $file, $calls / $elapsed,
    ($after[0] - $before[0]) * 1e6 / $calls, ($after[1] - $before[1]) * 1e6 / $calls;
close $ours;
waitpid $pid, 0;
