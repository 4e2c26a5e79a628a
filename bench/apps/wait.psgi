# An I/O-bound PSGI app for bench/psgi_coroae.py: each request waits 20 ms, on a Coro::AnyEvent
# timer when the server says psgi.nonblocking (--coroae), else in select() (threads).
use strict;
use warnings;
use Coro::AnyEvent ();

my $body = 'waited';
sub {
    my ($env) = @_;
    $env->{'psgi.nonblocking'} ? Coro::AnyEvent::sleep(0.02) : select(undef, undef, undef, 0.02);
    return [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $body], [$body]];
};
