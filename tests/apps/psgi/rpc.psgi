# Registers an RPC function at load time and calls it back through the worker per request,
# so the worker calls into the child while the child waits for the worker (nested calls).
use strict;
use warnings;

uwsgi::register_rpc('double', sub { uwsgi::log("double($_[0]) in $$"); return $_[0] * 2 });

sub {
    my $env = shift;
    my $result = uwsgi::call('double', $env->{QUERY_STRING});
    return [200, ['Content-Type' => 'text/plain'], ["double=$result"]];
};
