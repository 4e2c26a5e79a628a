# The Coro::AnyEvent loop of a PSGI child (`--coroae N`, uWSGI's coroae loop engine): one Perl
# interpreter serves up to N requests at once. The worker opens N bridge sockets to this child
# (POLYHOST_BRIDGE_FD lists them); each is served by its own Coro thread running the child's
# ordinary request loop. The per-connection globals of psgi_child.pl are swapped per thread
# (Coro::State::swap_sv) and the sockets are Coro::Handles, so a thread waiting for the worker,
# or an app waiting on Coro::AnyEvent::sleep or an AnyEvent watcher, lets the others run.
# Needs Debian's libcoro-perl and libanyevent-perl.
use strict;
use warnings;

package polyhost::psgi::Coro;

use Coro ();
use Coro::AnyEvent ();
use Errno ();
use Fcntl ();
use AnyEvent ();

# what one bridge socket's thread keeps to itself (see the `our` variables of psgi_child.pl)
my @PER_LANE = (
    \$polyhost::psgi::SOCK,       \$polyhost::psgi::RBUF,    \$polyhost::psgi::OUT,
    \$polyhost::psgi::START_SENT, \$polyhost::psgi::STARTED, \$polyhost::psgi::SERIAL,
    \$polyhost::psgi::BODYBUF,
);

sub _coro_handle {
    my ($fh) = @_;
    my $flags = fcntl($fh, Fcntl::F_GETFL(), 0) or die "psgi_child.pl: F_GETFL: $!\n";
    fcntl($fh, Fcntl::F_SETFL(), $flags | Fcntl::O_NONBLOCK()) or die "psgi_child.pl: F_SETFL: $!\n";
    my $handle = \do { local *LANE };
    tie *$handle, 'polyhost::psgi::Coro::Socket', $fh;
    return $handle;
}

my $LANES = 0;    # lanes still open

use constant LANE_CLOSED => "polyhost: the worker closed this bridge lane\n";

# the worker closed this thread's socket (it gave up on the request): unwind this thread only
# (_lane ends it), and end the process with the last lane
sub _lane_closed {
    exit 0 if $LANES <= 1;
    die LANE_CLOSED;
}

# one Coro thread serving one bridge socket; $hello: write HELLO on it first
sub _lane {
    my ($fh, $hello) = @_;
    my @own = ((_coro_handle($fh)), '', '', 0, 0, 0, '');
    $LANES++;
    Coro::async {
        $Coro::current->desc("bridge fd " . fileno($fh));
        $Coro::current->swap_sv($PER_LANE[$_], \$own[$_]) for 0 .. $#PER_LANE;
        polyhost::psgi::write_all($hello) if defined $hello;
        eval { polyhost::psgi::serve_forever(); 1 } or do {
            die $@ unless $@ eq LANE_CLOSED;
        };
        $LANES--;
    };
}

# serve the first socket (already open, CONFIG read, HELLO sent) and the other @fds; never returns
sub run {
    my @fds = @_;
    my $first = $polyhost::psgi::SOCK;
    $SIG{PIPE} = 'IGNORE';    # a lane the worker closed is an error on that lane (as uWSGI's)
    my $hello = polyhost::psgi::frame(polyhost::psgi::HELLO, polyhost::psgi::pack_items(
        runtime => 'psgi', version => sprintf('%vd', $^V), pid => $$,
        app => $polyhost::psgi::CONFIG{app}, coroae => scalar(@fds) + 1,
    ), 0);
    $polyhost::psgi::SOCK = undef;
    _lane($first, undef);
    for my $fd (@fds) {
        open(my $fh, '+<&=', $fd) or die "psgi_child.pl: cannot use the bridge fd $fd: $!\n";
        binmode $fh;
        fcntl($fh, Fcntl::F_SETFD(), Fcntl::FD_CLOEXEC()) or die "psgi_child.pl: F_SETFD: $!\n";
        _lane($fh, $hello);
    }
    AnyEvent->condvar->recv;    # the threads exit the process when the worker closes a socket
    exit 0;
}

# a non-blocking bridge socket whose sysread and syswrite wait like blocking ones, letting the
# other Coro threads run meanwhile (Coro::Handle's partial reads give up on EAGAIN instead)
package polyhost::psgi::Coro::Socket;

sub TIEHANDLE { my ($class, $fh) = @_; return bless { fh => $fh }, $class }
sub FILENO { return fileno $_[0]{fh} }
sub BINMODE { return binmode $_[0]{fh} }
sub CLOSE { return close $_[0]{fh} }

sub READ {
    my ($self, undef, $len, $offset) = @_;
    while (1) {
        my $got = sysread($self->{fh}, $_[1], $len, $offset // 0);
        polyhost::psgi::Coro::_lane_closed() if defined $got && $got == 0;
        return $got if defined $got || !($!{EAGAIN} || $!{EINTR});
        Coro::AnyEvent::readable($self->{fh});
    }
}

sub WRITE {
    my ($self, undef, $len, $offset) = @_;
    while (1) {
        my $wrote = syswrite($self->{fh}, $_[1], $len, $offset // 0);
        return $wrote if defined $wrote;
        polyhost::psgi::Coro::_lane_closed() unless $!{EAGAIN} || $!{EINTR};
        Coro::AnyEvent::writable($self->{fh});
    }
}

1;
