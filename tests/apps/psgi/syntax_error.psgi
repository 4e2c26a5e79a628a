# A PSGI app that does not compile.
use strict;
use warnings;

my $app = sub { [200, [], ['never']] ;
