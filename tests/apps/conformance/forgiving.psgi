# PSGI apps that run under Starman and Plack's servers although they bend the spec
# (tests/test_forgiving.py): each is served, the bend logged, never a 500.
use strict;
use warnings;

package OnlyGetline;    # a body object with getline and no close
sub new { my ($class, @parts) = @_; return bless [@parts], $class }
sub getline { my $self = shift; return shift @$self }

package main;

my $app = sub {
    my $env  = shift;
    my $path = $env->{PATH_INFO};
    if ($path eq '/responder-twice') {
        return sub {
            my $responder = shift;
            $responder->([200, ['Content-Type' => 'text/plain'], ['first']]);
            $responder->([500, ['Content-Type' => 'text/plain'], ['second']]);
        };
    }
    if ($path eq '/write-after-close') {
        return sub {
            my $writer = shift->([200, ['Content-Type' => 'text/plain']]);
            $writer->write('streamed');
            $writer->close;
            $writer->write(' late');
        };
    }
    if ($path eq '/string-status') {
        return ['201', ['Content-Type' => 'text/plain', 'Content-Length' => 2], ['ok']];
    }
    if ($path eq '/undef-parts') {
        return [200, ['Content-Type' => 'text/plain'], ['a', undef, '', 'b']];
    }
    if ($path eq '/getline-only') {
        return [200, ['Content-Type' => 'text/plain'], OnlyGetline->new('get', 'line')];
    }
    return [200, ['Content-Type' => 'text/plain'], ['ok']];
};
