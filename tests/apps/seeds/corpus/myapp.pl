# the PSGI quickstart's myapp.pl
my $app = sub {
    my $env = shift;
    return [
        '200',
        [ 'Content-Type' => 'text/html' ],
        [ "<h1>Hello World</h1>" ],
    ];
};
