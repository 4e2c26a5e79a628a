# --coroae N tests (tests/test_psgi_coroae.py): requests that wait on Coro::AnyEvent::sleep,
# counted by the app, and fabric calls made from inside a Coro thread.
use strict;
use warnings;
use Coro::AnyEvent ();

my ($arrived, $active, $peak) = (0, 0, 0);
uwsgi::register_rpc('hello', sub { return "hello from $$ " . join(',', @_) });

sub text { return [200, ['Content-Type' => 'text/plain'], [join('', @_)]] }

my %route = (
    # rendezvous: wait (Coro sleeps, at most 20 s) until `n` requests have arrived, then 0.5 s
    '/wait' => sub {
        my ($env) = @_;
        my ($want) = ($env->{QUERY_STRING} =~ /n=(\d+)/);
        $arrived++;
        $active++;
        $peak = $active if $active > $peak;
        my $polls = 0;
        Coro::AnyEvent::sleep(0.05) while $arrived < $want && ++$polls < 400;
        Coro::AnyEvent::sleep(0.5);
        $active--;
        return text("pid=$$ arrived=$arrived peak=$peak");
    },
    # a long streamed response, written as the Coro thread wakes up, for a client that leaves
    '/stream' => sub {
        return sub {
            my $writer = $_[0]->([200, ['Content-Type' => 'text/plain']]);
            $writer->write("first\n");
            for (1 .. 200) {
                Coro::AnyEvent::sleep(0.02);
                $writer->write('x' x 65536);
            }
            $writer->close;
        };
    },
    '/slow' => sub {
        Coro::AnyEvent::sleep(1.5);
        return text("pid=$$ slow done");
    },
    '/env' => sub {
        my ($env) = @_;
        return text(map { "$_=" . ($env->{$_} // '') . "\n" }
            qw(psgi.multithread psgi.multiprocess psgi.nonblocking psgi.run_once));
    },
    # fabric calls between Coro sleeps: another thread runs while this one waits
    '/fabric' => sub {
        my ($env) = @_;
        my ($key) = ($env->{QUERY_STRING} =~ /k=(\w+)/);
        uwsgi::cache_set($key, "v-$key", 0, 'coro');
        Coro::AnyEvent::sleep(0.1);
        my $got = uwsgi::cache_get($key, 'coro') // 'MISS';
        my $rpc = uwsgi::call('hello', $key);
        return text("cache=$got rpc=$rpc");
    },
);

sub {
    my ($env) = @_;
    my $handler = $route{ $env->{PATH_INFO} } or return [404, [], ['no such page']];
    return $handler->($env);
};
