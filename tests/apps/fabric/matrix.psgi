# The Perl corner of the cross-language fabric tests (mounted at /pl).
use strict;
use warnings;

my $markers = $ENV{MARKER_DIR};

sub mark {
    my ($name) = @_;
    open my $fh, '>', "$markers/$name" or die "cannot write $markers/$name: $!";
    print {$fh} $$;
    close $fh;
    return;
}

uwsgi::register_rpc('pl_echo', sub { return 'pl:' . $_[0] });
uwsgi::register_rpc('pl_relay', sub { my ($next, @rest) = @_; return 'pl>' . uwsgi::call($next, @rest) });
uwsgi::register_signal(41, 'workers', sub { mark("pl-sig$_[0]-w" . uwsgi::worker_id()) });
uwsgi::spooler(sub {
    my ($task) = @_;
    return uwsgi::SPOOL_IGNORE unless ($task->{handler} // '') eq 'pl';
    mark("pl-spooled-$task->{name}");
    return uwsgi::SPOOL_OK;
});

sub {
    my ($env) = @_;
    my %q = map { my ($k, $v) = split /=/, $_, 2; ($k => $v // '') } split /&/, $env->{QUERY_STRING} // '';
    my $path = $env->{PATH_INFO};
    my $body;
    if ($path eq '/call') {
        $body = uwsgi::call($q{fn}, length $q{args} // '' ? split(/,/, $q{args}) : ());
    }
    elsif ($path eq '/cache_set') { $body = uwsgi::cache_update($q{k}, $q{v}, 0, 'shared') }
    elsif ($path eq '/cache_get') { $body = uwsgi::cache_get($q{k}, 'shared') // 'MISS' }
    elsif ($path eq '/cache_inc') { $body = uwsgi::cache_inc($q{k}, 1, 0, 'shared') }
    elsif ($path eq '/signal') { uwsgi::signal($q{num}); $body = 'raised' }
    elsif ($path eq '/spool') { $body = uwsgi::spool({ handler => $q{handler}, name => $q{name} }) }
    else { $body = 'perl' }
    return [200, ['Content-Type' => 'text/plain'], [$body]];
};
