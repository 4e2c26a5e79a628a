# The smallest PSGI app: one arrayref response.
use strict;
use warnings;

sub {
    my ($env) = @_;
    return [200, ['Content-Type' => 'text/plain'], ["Hello from $env->{PATH_INFO}"]];
};
