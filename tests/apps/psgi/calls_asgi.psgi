# The Perl side of the ASGI fabric test: a function the ASGI app awaits, and a handler that
# calls the ASGI app's async function.
use strict;
use warnings;

uwsgi::register_rpc('perl_upper', sub { return uc($_[0]) . " (perl $$)" });

sub {
    my $env = shift;
    my $result = uwsgi::call('asgi_greet', 'perl');
    return [200, ['Content-Type' => 'text/plain'], [$result]];
};
