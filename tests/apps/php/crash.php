<?php
// Kills its own php-cgi process mid-request, before any output.
posix_kill(posix_getpid(), 9);
