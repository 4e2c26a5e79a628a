# Perl -> Python RPC with arguments of every size class (tests/test_rpc_perl.py): one packet,
# a message split into 64 KiB packets, and an argument over uwsgi's 64 KiB item limit.
use strict;
use warnings;

sub {
    my ($env) = @_;
    my ($what) = ($env->{QUERY_STRING} // '') =~ /^(\w+)$/;
    my $body = eval {
        if ($what eq 'small') { uwsgi::call('py_sizes', 'x') }
        elsif ($what eq 'split') { uwsgi::call('py_sizes', 'a' x 40000, 'b' x 40000) }
        elsif ($what eq 'rpc') { uwsgi::rpc('', 'py_sizes', 'one', 'two') }
        elsif ($what eq 'toobig') { uwsgi::call('py_sizes', 'c' x 70000) }
        elsif ($what eq 'missing') { uwsgi::call('not_registered', 'x') }
        elsif ($what eq 'loop') { join ',', map { uwsgi::call('py_sizes', "n$_") } 1 .. 200 }
        else { "no case '$what'" }
    };
    $body = "died: $@" unless defined $body;
    return [200, ['Content-Type' => 'text/plain'], [$body]];
};
