# No exec bit: run through cgi-helper .pl=perl
print "Content-Type: text/plain\r\n\r\n";
print "perl helper ran $ENV{SCRIPT_NAME}\n";
