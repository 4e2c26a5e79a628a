# Hello world for the PSGI benchmarks (polyhost, uWSGI's psgi plugin, Starman).
use strict;
use warnings;

my $body = 'Hello World';
sub { return [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $body], [$body]] };
