# A .psgi file whose last statement is not an app.
use strict;
use warnings;

42;
