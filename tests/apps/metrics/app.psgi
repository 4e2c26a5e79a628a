# The Perl corner of the metrics tests.
sub {
    my $done = uwsgi::metric_inc('hits.pl', 2);
    my $unknown = defined(uwsgi::metric_inc('nope')) ? 'defined' : 'undef';
    return [200, ['Content-Type' => 'text/plain'], [join(' ', $done, $unknown, uwsgi::metric_get('hits.pl'))]];
}
