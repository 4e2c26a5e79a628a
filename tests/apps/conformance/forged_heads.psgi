# PSGI responses that must never reach the wire as sent (tests/test_response_checks.py): each
# is a 500 with the reason in the log, and the child serves the next request.
use strict;
use warnings;

package FailsMidway;    # a body that dies after its first part
sub new { return bless { parts => 0 }, shift }
sub getline {
    my $self = shift;
    return 'first part ' if $self->{parts}++ == 0;
    die "the body iterator failed\n";
}
sub close { }

package main;

my $app = sub {
    my $path = shift->{PATH_INFO};
    return ["200 OK\r\nSet-Cookie: x=1", ['X-B' => 'b'], ['smuggled']] if $path eq '/crlf-status';
    return [200, ['X-A' => "a\nSet-Cookie: y=2"], ['smuggled']] if $path eq '/lf-header';
    return [200, ['X-A' => "a\rSet-Cookie: y=2"], ['smuggled']] if $path eq '/cr-header';
    return [200, ["Set-Cookie: z=3\r\nX" => 'v'], ['smuggled']] if $path eq '/crlf-name';
    return [200, ['Content-Type' => 'text/plain'], FailsMidway->new] if $path eq '/fails-midway';
    return [200, ['Content-Type' => 'text/plain'], ['ok']];
};
