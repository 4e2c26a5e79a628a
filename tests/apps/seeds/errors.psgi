# psgi.errors used as the IO::Handle it is documented to be
my $app = sub {
    my $env = shift;
    my $errors = $env->{'psgi.errors'};
    $errors->print("printed line\n");
    $errors->say("said line");
    $errors->write("written line and more\n", 12);
    $errors->printf("%s line\n", "formatted");
    $errors->flush;
    $errors->autoflush(1);
    return [200, ['Content-Type' => 'text/plain'], ['logged']];
};
