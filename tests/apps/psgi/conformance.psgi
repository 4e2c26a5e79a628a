# One PSGI app exercising every body type and the streaming interface, wrapped in
# Plack::Middleware::Lint (paths under /raw/ skip Lint to test the server's own checks).
use strict;
use warnings;
use Digest::MD5 ();
use Plack::Middleware::Lint;
use Plack::Util;
use File::Basename qw(dirname);
use File::Spec;

my $FILE = File::Spec->rel2abs(__FILE__);
my $TEXT = ['Content-Type' => 'text/plain'];

{
    package CountingBody;    # an IO-like body: getline and close, nothing else
    sub new { my ($class, $parts, $errors) = @_; bless { parts => [@$parts], errors => $errors }, $class }
    sub getline {
        my $self = shift;
        $self->{rs} = ref $/ ? ${$/} : 'not a ref';
        return shift @{ $self->{parts} };
    }
    sub close { my $self = shift; $self->{errors}->print("CountingBody closed, \$/ was \\$self->{rs}\n") }
}

{
    package ChunkStream;    # an IO-like body producing $size bytes in 64 KiB pieces
    sub new { my ($class, $size) = @_; bless { left => $size }, $class }
    sub getline {
        my $self = shift;
        return undef unless $self->{left};
        my $n = $self->{left} < 65536 ? $self->{left} : 65536;
        $self->{left} -= $n;
        return 'x' x $n;
    }
    sub close { 1 }
}

my %routes = (
    '/env' => sub {
        my $env = shift;
        my @lines = map {
            my $v = $env->{$_};
            ref $v eq 'ARRAY' ? "$_=" . join('.', @$v) : ref $v ? "$_=" . ref($v) : "$_=" . ($v // 'undef')
        } sort keys %$env;
        return [200, $TEXT, [join("\n", @lines) . "\n"]];
    },
    '/array' => sub { [200, [@$TEXT, 'X-Multi' => 'a', 'X-Multi' => 'b'], ['Hello', ', ', 'world']] },
    '/fh' => sub {
        open(my $fh, '<', $FILE) or die "open $FILE: $!";
        return [200, $TEXT, $fh];
    },
    '/io' => sub { [200, $TEXT, CountingBody->new(['one ', 'two ', 'three'], $_[0]{'psgi.errors'})] },
    '/path' => sub {
        open(my $fh, '<', $FILE) or die "open $FILE: $!";
        Plack::Util::set_io_path($fh, $FILE);
        return [200, [@$TEXT, 'Content-Length' => -s $FILE], $fh];
    },
    '/delayed' => sub {
        return sub { my $responder = shift; $responder->([200, $TEXT, ['delayed ', 'body']]) };
    },
    '/stream' => sub {
        return sub {
            my $responder = shift;
            my $writer = $responder->([200, $TEXT]);
            $writer->write("chunk $_\n") for 1 .. 3;
            $writer->close;
        };
    },
    '/die' => sub { die "boom in the app\n" },
    '/die-streaming' => sub {
        return sub {
            my $writer = shift->([200, $TEXT]);
            $writer->write("partial\n");
            die "boom after start\n";
        };
    },
    '/input' => sub {
        my $env = shift;
        my $input = $env->{'psgi.input'};
        my ($first, $buf) = ('', '');
        while ($input->read($buf, 7)) { $first .= $buf }
        $input->seek(0, 0) or die "seek failed";
        my $second = 'prefix:';
        my $n = $input->read($second, 5, 7);
        my $at_end = $input->read(my $more, 0);
        return [200, $TEXT, ["first=$first\nsecond=$second\nn=$n\n"]];
    },
    '/upload' => sub {
        my $env = shift;
        my $input = $env->{'psgi.input'};
        my $md5 = Digest::MD5->new;
        my $total = 0;
        while (my $got = $input->read(my $buf, 65536)) { $md5->add($buf); $total += $got }
        $input->seek(0, 0);
        $input->read(my $head, 10);
        return [200, $TEXT, ["$total " . $md5->hexdigest . " $head"]];
    },
    '/download' => sub {
        my $size = $_[0]{QUERY_STRING} || 1024;
        return [200, [@$TEXT, 'Content-Length' => $size], ChunkStream->new($size)];
    },
    '/errors' => sub {
        my $ok = $_[0]{'psgi.errors'}->print("a line for the log\n");
        return [200, $TEXT, ["print returned $ok"]];
    },
    '/harakiri' => sub { $_[0]{'psgix.harakiri.commit'} = 1; [200, $TEXT, [$$]] },
    '/cleanup' => sub {
        push @{ $_[0]{'psgix.cleanup.handlers'} }, sub { print STDERR "cleanup ran for $_[0]{PATH_INFO}\n" };
        return [200, $TEXT, ['ok']];
    },
    '/pid' => sub { [200, $TEXT, [$$]] },
    '/sleep' => sub { print STDERR "sleeping in $$\n"; sleep 60; [200, $TEXT, ['woke']] },
    '/spawn-and-sleep' => sub {
        my $pid = fork // die "fork: $!";
        exec 'sleep', '30' if !$pid;
        print STDERR "spawned $pid, sleeping in $$\n";
        sleep 60;
        return [200, $TEXT, ['woke']];
    },
    '/uwsgi' => sub {
        uwsgi::log("uwsgi::log from the app");
        my $cache = eval { uwsgi::cache_get('key'); 'no error' } || $@;
        return [200, $TEXT, ["worker=" . uwsgi::worker_id() . "\ncache=$cache"]];
    },
    '/head304' => sub { [304, [], []] },
    '/raw/wide' => sub { [200, $TEXT, ["caf\x{e9} \x{263a}"]] },
    '/raw/bad-status' => sub { ['two hundred', $TEXT, ['x']] },
);

my $app = sub {
    my $env = shift;
    my $route = $routes{ $env->{PATH_INFO} } or return [404, $TEXT, ["no route $env->{PATH_INFO}"]];
    return $route->($env);
};
my $lint = Plack::Middleware::Lint->wrap($app);

sub { $_[0]{PATH_INFO} =~ m{^/raw/} ? $app->($_[0]) : $lint->($_[0]) };
