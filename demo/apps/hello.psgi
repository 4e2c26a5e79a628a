# The demo's Perl/PSGI app: the shared visit counter, and Django's `shout` over RPC.
use strict;
use warnings;

sub {
    my $visits = uwsgi::cache_inc('visits', 1, 0, 'demo');
    my $shout = uwsgi::call('shout', 'perl calls django');
    return [200, ['Content-Type' => 'text/plain'],
        ["Hello from Perl, worker " . uwsgi::worker_id() . ": visit $visits, $shout\n"]];
};
