<?php
// Output buffering: a header sent after output still works while the buffer holds it.
ob_start();
echo "buffered body\n";
header('X-Late-Header: yes');
ob_end_flush();
