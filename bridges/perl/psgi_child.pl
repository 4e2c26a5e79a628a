#!/usr/bin/perl
# The PSGI child of a polyhost worker: loads one app the way plackup does and serves the
# worker's requests over the bridge protocol (bridges/PROTOCOL.md), uwsgi packets on the
# socket named by POLYHOST_BRIDGE_FD. Pure Perl: core modules and Plack only.
use strict;
use warnings;

package polyhost::psgi;

use Scalar::Util qw(blessed);
use File::Spec ();
use File::Basename ();
use Fcntl ();

use constant {
    HELLO => 200, FAIL => 201, REQUEST => 202, BODY => 203, READ => 204, START => 205,
    SENDFILE => 206, END_RESPONSE => 207, CALL => 210, RESULT => 211, LOG => 212,
    CONFIG => 213,
    MORE => 0x80, FAIL_RUNTIME_MISSING => 1,
    CHUNK => 65535, READ_SIZE => 262144, FLUSH_AT => 262144,
};

our %CONFIG;          # the worker's CONFIG vars (repeated keys are array refs)
our $APP;             # the PSGI app code ref
our $SOCK;            # the bridge socket
our $RBUF = '';       # bytes read from the worker, not yet parsed
our @LANE_FDS;        # --coroae N: the other N-1 bridge fds, each served by a Coro thread
use constant PLAIN_END => pack('CvC', END_RESPONSE, 0, 0);

our $OUT = '';        # packets waiting to be written to the worker
our $START_SENT = 0;  # the current response's START has been written
our $STARTED = 0;     # the current response's START is queued or written
our $SERIAL = 0;      # request counter, so a stale writer can't write into a later response
my %STATUS_LINE;      # 200 -> "200 OK"

# -- packets -----------------------------------------------------------------------------------

sub read_packet {
    while (1) {
        my $have = length $RBUF;
        if ($have >= 4) {
            my ($mod1, $size, $mod2) = unpack('CvC', $RBUF);
            if ($have >= 4 + $size) {
                my $payload = substr($RBUF, 4, $size);
                substr($RBUF, 0, 4 + $size, '');
                return ($mod1, $payload, $mod2);
            }
        }
        my $got = sysread($SOCK, $RBUF, READ_SIZE, $have);
        next if !defined $got && $!{EINTR};
        exit 0 unless $got;    # the worker closed the bridge: nothing left to do
    }
}

sub read_message {
    my ($mod1, $payload, $mod2) = read_packet();
    ($payload, $mod2) = rest_of_message($payload, $mod2) if $mod2 & MORE;
    return ($mod1, $payload, $mod2);
}

# the packets after the first of a message (MORE set): the whole payload and the last modifier2
sub rest_of_message {
    my ($payload, $mod2) = @_;
    while ($mod2 & MORE) {
        (undef, my $more, $mod2) = read_packet();
        $payload .= $more;
    }
    return ($payload, $mod2);
}

# one logical message as packets (split at 64 KiB, MORE on all but the last)
sub frame {
    my ($mod1, $payload, $mod2) = @_;
    my $len = length $payload;
    return pack('CvC', $mod1, $len, $mod2) . $payload if $len <= CHUNK;
    my $out = '';
    my $pos = 0;
    for (; $len - $pos > CHUNK; $pos += CHUNK) {
        $out .= pack('CvC', $mod1, CHUNK, $mod2 | MORE) . substr($payload, $pos, CHUNK);
    }
    return $out . pack('CvC', $mod1, $len - $pos, $mod2) . substr($payload, $pos);
}

# a uwsgi vars block or array: u16le length + bytes, repeated. A block of at most 64 KiB has no
# item over 64 KiB, so only bigger blocks need the per-item check ('v' would wrap silently).
sub pack_items {
    my $block = pack('(v/a*)*', @_);
    return $block if length $block <= CHUNK;
    for (@_) {
        die "a value of " . length($_) . " bytes does not fit the 64 KiB of a uwsgi packet\n"
            if defined && length > CHUNK;
    }
    return $block;
}

sub write_all {
    utf8::downgrade($_[0], 1)
        or die "Wide character in the response: encode text to bytes (e.g. Encode::encode_utf8)\n";
    my ($off, $len) = (0, length $_[0]);
    while ($off < $len) {
        my $wrote = syswrite($SOCK, $_[0], $len - $off, $off);
        if (!defined $wrote) {
            next if $!{EINTR};
            exit 0;    # the worker is gone or gave up on this child
        }
        $off += $wrote;
    }
}

# body bytes not yet framed: small pieces coalesce into one BODY packet
our $BODYBUF = '';

sub frame_body {
    return unless length $BODYBUF;
    $OUT .= pack('CvC', BODY, length $BODYBUF, 0) . $BODYBUF;
    $BODYBUF = '';
}

sub write_out {
    write_all($OUT);
    $OUT = '';
    $START_SENT = 1 if $STARTED;
}

# write everything queued, body included
sub flush_out {
    frame_body();
    write_out() if length $OUT;
}

# queue body bytes; big ones are framed and written in pieces, never copied whole
sub queue_data {
    return unless length $_[0];
    if (utf8::is_utf8($_[0])) {
        my $bytes = $_[0];
        utf8::downgrade($bytes, 1) or die "Wide character in the response body: encode text to bytes\n";
        return queue_data($bytes);
    }
    if (length($BODYBUF) + length($_[0]) <= CHUNK) {
        $BODYBUF .= $_[0];
        return;
    }
    frame_body();
    my $len = length $_[0];
    for (my $pos = 0; $pos < $len; $pos += CHUNK) {
        if ($len - $pos < CHUNK) {
            $BODYBUF = substr($_[0], $pos);
            last;
        }
        $OUT .= pack('CvC', BODY, CHUNK, 0) . substr($_[0], $pos, CHUNK);
        write_out() if length $OUT >= FLUSH_AT;
    }
}

# -- calls (both directions) -------------------------------------------------------------------

our %RPC;         # name -> code ref (uwsgi::register_rpc)
our %SIGNAL;      # number -> code ref (uwsgi::register_signal)
our $SPOOLER;     # code ref (uwsgi::spooler)

my %INCOMING = (
    rpc => sub {
        my $name = shift;
        my $function = $RPC{$name} or die "no RPC function '$name' registered in this PSGI app\n";
        return scalar $function->(@_);
    },
    signal => sub {
        my ($num) = @_;
        my $handler = $SIGNAL{$num} or die "no handler for signal $num in this PSGI app\n";
        $handler->($num);
        return ();
    },
    spooler => sub {
        my %task = unpack('(v/a*)*', $_[0] // '');
        $SPOOLER or die "no spooler function (uwsgi::spooler) in this PSGI app\n";
        return scalar $SPOOLER->(\%task);
    },
);

sub serve_call {
    my ($op, @args) = unpack('(v/a*)*', $_[0]);
    my @result = eval {
        my $handler = $INCOMING{$op} or die "the PSGI child has no operation '$op'\n";
        $handler->(@args);
    };
    if (my $error = $@) {
        $error =~ s/\n\z//;
        write_all(frame(RESULT, pack_items($error), 1));
    }
    else {
        write_all(frame(RESULT, pack_items(@result), 0));
    }
}

# each op's name as the first item of its CALL payload: the constant part, packed once
my %OP_ITEM;

# a call into the worker (log, and the fabric: rpc, cache, signals, spooler); dies on error.
# The hot path of every fabric function: one packet written, one read, no copies of the
# arguments and no sub calls besides the write and the read (a call is a round trip to the
# worker, so what this side spends shows in every call).
sub call {
    my $op = shift;
    flush_out() if length $BODYBUF || length $OUT;
    my $payload = ($OP_ITEM{$op} //= pack('v/a*', $op)) . pack('(v/a*)*', @_);
    if (length $payload <= CHUNK) {
        write_all(pack('CvC', CALL, length $payload, 0) . $payload);
    }
    else {    # big arguments: checked and split into 64 KiB packets
        write_all(frame(CALL, pack_items($op, @_), 0));
    }
    while (1) {
        my ($mod1, $reply, $mod2) = read_packet();
        ($reply, $mod2) = rest_of_message($reply, $mod2) if $mod2 & MORE;
        if ($mod1 == RESULT) {
            my @items = unpack('(v/a*)*', $reply);
            die "$items[0]\n" if $mod2 == 1;
            return @items;
        }
        if ($mod1 == CALL) {
            serve_call($reply);
            next;
        }
        die "polyhost bridge: unexpected packet type $mod1 while waiting for the result of $op\n";
    }
}

sub log_line {
    my $text = join '', @_;
    utf8::encode($text) if utf8::is_utf8($text);
    write_all(frame(LOG, $text, 0));
}

# -- requests ----------------------------------------------------------------------------------

sub status_line {
    my $code = shift;
    return $STATUS_LINE{$code} = "$code " . (HTTP::Status::status_message($code) // 'Unknown');
}

sub queue_start {
    my ($status, $headers) = @_;
    die "the response has already started\n" if $STARTED;
    die "invalid PSGI status '" . ($status // 'undef') . "'\n"
        unless defined $status && $status =~ /^[1-9]\d\d$/;
    $OUT .= frame(START, pack_items('STATUS', $STATUS_LINE{$status} // status_line($status),
        @{ $headers || [] }), 0);
    $STARTED = 1;
}

# an array body's Content-Length, added as Starman and Plack's servers do, so that the response
# needs no chunked framing
sub with_length {
    my ($status, $headers, $body) = @_;
    return $headers if $status =~ /^(?:1\d\d|204|304)$/;
    for (my $i = 0; $i < @$headers; $i += 2) {
        return $headers if $headers->[$i] =~ /^(?:content-length|transfer-encoding)$/i;
    }
    my $length = 0;
    for (@$body) {
        next unless defined;
        return $headers if utf8::is_utf8($_);    # queue_data reports wide characters
        $length += length;
    }
    return [@$headers, 'Content-Length' => $length];
}

sub queue_body {
    my ($body) = @_;
    if (ref $body eq 'ARRAY') {
        for my $part (@$body) {
            queue_data($part) if defined $part;
        }
        return;
    }
    my $path = blessed($body) && $body->can('path') ? $body->path : undef;
    if (defined $path && -f $path) {
        my $offset = Plack::Util::is_real_fh($body) ? tell($body) : 0;
        $offset = 0 if $offset < 0;
        $OUT .= frame(SENDFILE, pack_items(
            path => File::Spec->rel2abs($path), offset => $offset,
            count => (-s _) - $offset,
        ), 0);
        $body->close;
        return;
    }
    local $/ = \65536;
    if (Plack::Util::is_real_fh($body)) {
        while (1) {
            my $got = read($body, my $buffer, CHUNK);
            die "reading the response body failed: $!\n" unless defined $got;
            last unless $got;
            queue_data($buffer);
        }
        close $body;
        return;
    }
    while (defined(my $piece = $body->getline)) {
        queue_data($piece);
        flush_out();
    }
    $body->close;
}

sub responder {
    my $response = shift;
    if ($STARTED) {    # Starman would write a second head into the body: keep the first
        log_line("the PSGI app called \$responder a second time for one request: ignored,"
            . " the first response stands\n");
        return if @$response >= 3;
        return polyhost::psgi::Writer->new(0);    # a writer of a response that has ended
    }
    queue_start($response->[0], $response->[1]);
    if (@$response >= 3) {
        queue_body($response->[2]);
        return;
    }
    flush_out();
    return polyhost::psgi::Writer->new($SERIAL);
}

sub build_env {
    my ($vars, $input) = @_;
    my %env = unpack('(v/a*)*', $vars);
    delete @env{qw(HTTP_CONTENT_LENGTH HTTP_CONTENT_TYPE)};
    delete $env{CONTENT_LENGTH} if exists $env{CONTENT_LENGTH} && $env{CONTENT_LENGTH} eq '';
    delete $env{CONTENT_TYPE} if exists $env{CONTENT_TYPE} && $env{CONTENT_TYPE} eq '';
    my $scheme = $env{UWSGI_SCHEME}
        || ((($env{HTTPS} // '') =~ /^(?:on|1)$/i) ? 'https' : 'http');
    $env{SCRIPT_NAME} //= '';
    $env{SCRIPT_NAME} = '' if $env{SCRIPT_NAME} eq '/';
    $env{PATH_INFO} //= '';
    $env{QUERY_STRING} //= '';
    if (!defined $env{SERVER_NAME} || $env{SERVER_NAME} eq '') {
        ($env{SERVER_NAME}) = ($env{HTTP_HOST} // 'localhost') =~ /^(\[[^\]]*\]|[^:]*)/;
        $env{SERVER_NAME} = 'localhost' if $env{SERVER_NAME} eq '';
    }
    $env{SERVER_PORT} = ($scheme eq 'https' ? 443 : 80)
        if !defined $env{SERVER_PORT} || $env{SERVER_PORT} eq '';
    $env{SERVER_PROTOCOL} //= 'HTTP/1.1';
    @env{qw(psgi.version psgi.url_scheme psgi.input psgi.errors)}
        = ([1, 1], $scheme, $input, $polyhost::psgi::Errors::STREAM);
    @env{qw(psgi.multithread psgi.multiprocess psgi.run_once psgi.nonblocking psgi.streaming)}
        = ('', 1, '', (($CONFIG{loop} // '') eq 'coroae' ? 1 : ''), 1);
    @env{qw(psgix.input.buffered psgix.harakiri psgix.cleanup psgix.cleanup.handlers)}
        = (1, 1, 1, []);
    return \%env;
}

sub handle_request {
    my ($vars, $inline) = @_;
    my $input;
    if ($inline) {
        my $body = '';
        while (1) {
            my ($mod1, $piece, $mod2) = read_packet();
            die "polyhost bridge: expected the request body, got packet type $mod1\n"
                unless $mod1 == BODY;
            $body .= $piece;
            last if $mod2 & 1;
        }
        $input = polyhost::psgi::Input->new($body, 1);
    }
    else {
        $input = polyhost::psgi::Input->new('', 0);
    }
    my $env = build_env($vars, $input);
    ($OUT, $BODYBUF, $START_SENT, $STARTED) = ('', '', 0, 0);
    $SERIAL++;
    my $error;
    eval {
        my $response = $APP->($env);
        if (ref $response eq 'ARRAY') {
            die "the PSGI response has " . @$response . " elements instead of 3\n"
                unless @$response == 3;
            my ($status, $headers, $body) = @$response;
            queue_start($status, ref $body eq 'ARRAY' ? with_length($status, $headers, $body) : $headers);
            queue_body($body);
        }
        elsif (ref $response eq 'CODE') {
            $response->(\&responder);
            die "the app's delayed response returned without calling \$responder\n"
                unless $STARTED;
        }
        else {
            die "the PSGI app returned " . ($response // 'undef')
                . " instead of an array ref or a code ref\n";
        }
        1;
    } or $error = $@ || "unknown error";
    my @end;
    if (defined $error) {
        push @end, cut => 1 if $START_SENT;  # the app's own head went out: the worker cuts it
        if (!$START_SENT) {
            ($OUT, $BODYBUF, $STARTED) = ('', '', 0);
            my $text = "Internal Server Error\n";
            queue_start(500, ['Content-Type' => 'text/plain', 'Content-Length' => length $text]);
            queue_data($text);
        }
        push @end, exception => 1, error => $error;
    }
    my $harakiri = $env->{'psgix.harakiri.commit'};
    push @end, harakiri => 1 if $harakiri;
    frame_body();
    $OUT .= @end ? frame(END_RESPONSE, pack_items(@end), 0) : PLAIN_END;
    write_out();
    my $cleanup = $env->{'psgix.cleanup.handlers'};
    if ($cleanup && @$cleanup) {
        for my $handler (@$cleanup) {
            eval { $handler->($env); 1 } or log_line("psgix.cleanup handler died: $@");
        }
    }
    exit 0 if $harakiri;
}

# -- loading -----------------------------------------------------------------------------------

sub fail {
    my ($text, $mod2) = @_;
    utf8::encode($text) if utf8::is_utf8($text);
    write_all(frame(FAIL, $text, $mod2 // 0));
    exit 1;
}

sub load_app {
    # one fd, or (--coroae N) N fds separated by commas: the first carries CONFIG and HELLO
    my ($fd, @lanes) = split /,/, delete $ENV{POLYHOST_BRIDGE_FD} // '';
    die "psgi_child.pl is started by polyhost (POLYHOST_BRIDGE_FD is not set)\n"
        unless defined $fd && !grep { !/^\d+$/ } $fd, @lanes;
    @LANE_FDS = @lanes;
    open($SOCK, '+<&=', $fd) or die "psgi_child.pl: cannot use the bridge fd $fd: $!\n";
    binmode $SOCK;
    # programs the app runs must not hold the bridge open: the worker sees our death as EOF
    fcntl($SOCK, Fcntl::F_SETFD(), Fcntl::FD_CLOEXEC()) or die "psgi_child.pl: F_SETFD: $!\n";
    my ($mod1, $payload) = read_message();
    die "polyhost bridge: expected CONFIG first, got packet type $mod1\n" unless $mod1 == CONFIG;
    my @pairs = unpack('(v/a*)*', $payload);
    while (my ($key, $value) = splice(@pairs, 0, 2)) {
        if ($key eq 'local_lib') {
            push @{ $CONFIG{$key} }, $value;
        }
        else {
            $CONFIG{$key} = $value;
        }
    }
    require Config;
    for my $dir (reverse @{ $CONFIG{local_lib} || [] }) {
        unshift @INC, "$dir/lib/perl5/$Config::Config{archname}", "$dir/lib/perl5";
    }
    eval { require Plack::Util; require HTTP::Status; 1 } or fail("$@", FAIL_RUNTIME_MISSING);
    if (($CONFIG{loop} // '') eq 'coroae') {    # --coroae N: the Coro::AnyEvent loop
        my $loop = File::Spec->catfile(File::Spec->rel2abs(File::Basename::dirname(__FILE__)),
            'coroae.pl');
        eval { require $loop; 1 } or fail("--coroae needs Coro and AnyEvent: $@(install the"
            . " Debian packages libcoro-perl and libanyevent-perl)");
    }
    my $file = $CONFIG{app};
    $APP = eval { Plack::Util::load_psgi($file) };
    fail("$@") if $@;
    fail("$file did not return a code reference (the last statement of a .psgi file is the app)")
        unless ref $APP eq 'CODE' || (blessed($APP) && overload::Method($APP, '&{}'));
    $0 = "polyhost psgi w$CONFIG{worker_id} $file";
    write_all(frame(HELLO, pack_items(
        runtime => 'psgi', version => sprintf('%vd', $^V), pid => $$, app => $file,
    ), 0));
}

sub main {
    STDOUT->autoflush(1);
    STDERR->autoflush(1);
    load_app();
    polyhost::psgi::Coro::run(@LANE_FDS) if ($CONFIG{loop} // '') eq 'coroae';
    serve_forever();
}

# the requests and calls of one bridge socket ($SOCK), until the worker closes it
sub serve_forever {
    while (1) {
        my ($mod1, $payload, $mod2) = read_message();
        if ($mod1 == REQUEST) {
            handle_request($payload, $mod2 & 1);
        }
        elsif ($mod1 == CALL) {
            serve_call($payload);
        }
        else {
            die "polyhost bridge: unexpected packet type $mod1 between requests\n";
        }
    }
}

# -- psgi.input: the request body, pulled from the worker as read; seekable ------------------

package polyhost::psgi::Input;

use constant SPILL_AT => 1024 * 1024;    # bodies above this go to an anonymous temp file

sub new {
    my ($class, $data, $complete) = @_;
    return bless { data => $data, pos => 0, complete => $complete, size => length $data }, $class;
}

# pull body pieces until $want bytes past pos are available or the body is complete
sub _fill {
    my ($self, $want) = @_;
    while (!$self->{complete} && $self->{size} - $self->{pos} < $want) {
        polyhost::psgi::write_all(pack('CvC', polyhost::psgi::READ, 0, 0));
        my ($mod1, $piece, $mod2);
        while (1) {
            ($mod1, $piece, $mod2) = polyhost::psgi::read_message();
            last if $mod1 == polyhost::psgi::BODY;
            die "polyhost bridge: unexpected packet type $mod1 while reading the body\n"
                unless $mod1 == polyhost::psgi::CALL;
            polyhost::psgi::serve_call($piece);
        }
        $self->{complete} = 1 if $mod2 & 1;
        next unless length $piece;
        if (!$self->{file} && $self->{size} + length($piece) > SPILL_AT) {
            open(my $file, '+>', undef) or die "cannot create a temp file for the request body: $!\n";
            binmode $file;
            CORE::print {$file} $self->{data};
            $self->{file} = $file;
            $self->{data} = '';
        }
        if ($self->{file}) {
            CORE::seek($self->{file}, 0, 2);
            CORE::print { $self->{file} } $piece or die "writing the request body to a temp file: $!\n";
        }
        else {
            $self->{data} .= $piece;
        }
        $self->{size} += length $piece;
    }
}

sub read {
    my ($self, undef, $len, $off) = @_;
    $self->_fill($len);
    my $avail = $self->{size} - $self->{pos};
    $len = $avail if $len > $avail;
    my $chunk = '';
    if ($len > 0) {
        if ($self->{file}) {
            CORE::seek($self->{file}, $self->{pos}, 0);
            my $got = CORE::read($self->{file}, $chunk, $len);
            die "reading the request body back: $!\n" unless defined $got;
        }
        else {
            $chunk = substr($self->{data}, $self->{pos}, $len);
        }
    }
    $self->{pos} += length $chunk;
    $_[1] = '' unless defined $_[1];
    $off //= 0;
    $off += length $_[1] if $off < 0;
    $_[1] .= "\0" x ($off - length $_[1]) if $off > length $_[1];
    substr($_[1], $off) = $chunk;
    return length $chunk;
}

sub seek {
    my ($self, $pos, $whence) = @_;
    $whence //= 0;
    $self->_fill(9**9**9) if $whence == 2;
    $pos += $whence == 1 ? $self->{pos} : $whence == 2 ? $self->{size} : 0;
    return 0 if $pos < 0;
    $self->_fill($pos - $self->{pos}) if $pos > $self->{size};
    $self->{pos} = $pos;
    return 1;
}

sub close { return 1 }

# -- psgi.errors: lines to the instance log ------------------------------------------------------

package polyhost::psgi::Errors;

our $STREAM = bless {}, __PACKAGE__;

sub print {
    my $self = shift;
    polyhost::psgi::log_line(join(defined $, ? $, : '', @_) . (defined $\ ? $\ : ''));
    return 1;
}

sub printf {
    my ($self, $format, @args) = @_;
    return $self->print(sprintf($format, @args));
}

sub say {
    my $self = shift;
    return $self->print(@_, "\n");
}

# IO::Handle's write(BUF, LEN, OFFSET)
sub write {
    my ($self, $buf, $len, $offset) = @_;
    return $self->print(substr($buf, $offset || 0, defined $len ? $len : length $buf));
}

sub flush     { return 1 }
sub close     { return 1 }
sub autoflush { return 1 }
sub opened    { return 1 }

# -- the writer of a streaming response --------------------------------------------------------

package polyhost::psgi::Writer;

sub new {
    my ($class, $serial) = @_;
    return bless { serial => $serial }, $class;
}

sub write {
    my ($self, $data) = @_;
    if ($self->{closed} || $self->{serial} != $polyhost::psgi::SERIAL) {
        polyhost::psgi::log_line("the PSGI app wrote to the writer of a response that has"
            . " ended: ignored\n") unless $self->{warned}++;
        return;
    }
    return unless defined $data;
    polyhost::psgi::queue_data($data);
    polyhost::psgi::flush_out();
    return 1;
}

sub close {
    my ($self) = @_;
    $self->{closed} = 1;
    polyhost::psgi::flush_out() if $self->{serial} == $polyhost::psgi::SERIAL;
    return 1;
}

# -- the uwsgi:: API: local functions, and the fabric through CALLs to the worker ----------------

package uwsgi;

use Carp ();

use constant { SPOOL_OK => -2, SPOOL_RETRY => -1, SPOOL_IGNORE => 0 };

sub worker_id { return $polyhost::psgi::CONFIG{worker_id} + 0 }
sub masterpid { return $polyhost::psgi::CONFIG{masterpid} + 0 }

sub log {
    my ($message) = @_;
    _fabric('log', $message);
    return 1;
}

# every fabric function is one CALL; until the fabric exists the worker answers with an error
sub _fabric {
    my $op = $_[0];
    my @result = eval { polyhost::psgi::call(@_) };    # (the block sees this sub's @_)
    if (my $error = $@) {
        $error =~ s/\n\z//;
        local $Carp::CarpLevel = 1;
        Carp::croak("uwsgi::$op: $error");
    }
    return wantarray ? @result : $result[0];
}

# uWSGI's chunked input (plugins/psgi): one chunk of the request body per call, '' at its end;
# chunked_read_nb returns undef while no whole chunk has arrived
sub chunked_read {
    my @chunk = _fabric('chunked_read', $_[0] // 0, '');
    return @chunk ? $chunk[0] : '';
}

sub chunked_read_nb {
    my @chunk = _fabric('chunked_read', 0, '1');
    return @chunk ? $chunk[0] : undef;
}

sub rpc { return scalar _fabric('rpc', @_) }
sub call { return scalar _fabric('call', @_) }
sub signal { _fabric('signal', $_[0]); return 1 }
sub cache_get { return scalar _fabric('cache_get', $_[0], $_[1] // '') }
sub cache_exists { return scalar(_fabric('cache_exists', $_[0], $_[1] // '')) ? 1 : 0 }
sub cache_del { return scalar(_fabric('cache_del', $_[0], $_[1] // '')) ? 1 : 0 }
sub cache_clear { _fabric('cache_clear', $_[0] // ''); return 1 }

sub cache_set {
    my ($key, $value, $expires, $cache) = @_;
    return scalar(_fabric('cache_set', $key, $value, $expires // 0, $cache // '')) ? 1 : 0;
}

sub cache_update {
    my ($key, $value, $expires, $cache) = @_;
    return scalar(_fabric('cache_update', $key, $value, $expires // 0, $cache // '')) ? 1 : 0;
}

sub spool {
    my ($task) = @_;
    Carp::croak('uwsgi::spool needs a hash ref') unless ref $task eq 'HASH';
    return scalar _fabric('spool', %$task);
}

sub cache_keys { return _fabric('cache_keys', $_[0] // '') }

sub _cache_math {
    my ($op, $key, $amount, $expires, $cache) = @_;
    return 0 + _fabric($op, $key, $amount // '', $expires // 0, $cache // '');
}
sub cache_inc { return _cache_math('cache_inc', @_) }
sub cache_dec { return _cache_math('cache_dec', @_) }
sub cache_mul { return _cache_math('cache_mul', @_) }
sub cache_div { return _cache_math('cache_div', @_) }
sub cache_num { return 0 + _fabric('cache_num', $_[0], $_[1] // '') }

# uWSGI's metrics: 1 once a declared metric changed, undef for an unknown one
sub metric_get { return 0 + _fabric('metric_get', $_[0]) }
sub _metric { my ($op, $name, $value) = @_; return _fabric($op, $name, $value // '') ? 1 : undef }
sub metric_set { return _metric('metric_set', @_) }
sub metric_inc { return _metric('metric_inc', @_) }
sub metric_dec { return _metric('metric_dec', @_) }
sub metric_mul { return _metric('metric_mul', @_) }
sub metric_div { return _metric('metric_div', @_) }

sub add_timer { _fabric('add_timer', $_[0], $_[1], $_[2] // 0); return 1 }
sub add_rb_timer { _fabric('add_rb_timer', $_[0], $_[1], $_[2] // 0); return 1 }
sub add_cron { _fabric('add_cron', @_[0 .. 5]); return 1 }
sub add_file_monitor { _fabric('add_file_monitor', $_[0], $_[1]); return 1 }
sub signal_wait { return 0 + _fabric('signal_wait', $_[0] // '') }
sub signal_received { return 0 + _fabric('signal_received') }
sub signal_registered { return _fabric('signal_registered', $_[0]) ? 1 : 0 }

sub mule_msg { return _fabric('mule_msg', $_[0], $_[1] // '') ? 1 : 0 }
sub mule_id { return 0 + (_fabric('process'))[1] }
sub rpc_list { return _fabric('rpc_list') }

sub register_rpc {
    my ($name, $function) = @_;
    Carp::croak('uwsgi::register_rpc needs a name and a code ref') unless ref $function eq 'CODE';
    _fabric('register_rpc', $name);
    $polyhost::psgi::RPC{$name} = $function;
    return 1;
}

sub register_signal {
    my ($num, $target, $handler) = @_;
    Carp::croak('uwsgi::register_signal needs a number, a target and a code ref')
        unless ref $handler eq 'CODE';
    _fabric('register_signal', $num, $target // '');
    $polyhost::psgi::SIGNAL{$num} = $handler;
    return 1;
}

sub spooler {
    my ($function) = @_;
    Carp::croak('uwsgi::spooler needs a code ref') unless ref $function eq 'CODE';
    _fabric('register_spooler');
    $polyhost::psgi::SPOOLER = $function;
    return 1;
}

package main;

polyhost::psgi::main() unless caller;    # loaded by a test or benchmark harness: just the subs
