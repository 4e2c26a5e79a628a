# Timed loops of fabric calls from Perl, run the same way under polyhost and real uWSGI.
use strict;
use warnings;
use Time::HiRes qw(time);

sub rate {
    my ($function, $calls) = @_;
    # a loop that fails fast would measure nothing: check it works first
    defined $function->() or die "the measured call returned undef\n";
    my $start = time;
    $function->() for 1 .. $calls;
    return $calls / (time - $start);
}

sub {
    my ($env) = @_;
    (my $what = $env->{PATH_INFO}) =~ s{^/}{};
    my $calls = $env->{QUERY_STRING} || 20000;
    my $value = 'v' x 100;
    uwsgi::cache_set('bench-key-pl', $value, 0, 'bench');
    my %loops = (
        rpc_pl_py => sub { uwsgi::call('py_echo', 'x') },
        cache_get_pl => sub { uwsgi::cache_get('bench-key-pl', 'bench') },
        cache_set_pl => sub { uwsgi::cache_set('bench-key-pl', $value, 0, 'bench'); 1 },
    );
    my $loop = $loops{$what} or return [404, ['Content-Type' => 'text/plain'], ["no loop $what"]];
    return [200, ['Content-Type' => 'application/json'], [sprintf('{"%s": %f}', $what, rate($loop, $calls))]];
};
