<?php
// Reads php://input in pieces: its length and md5, never the whole body in one string.
$in = fopen('php://input', 'rb');
$ctx = hash_init('md5');
$total = 0;
while (!feof($in)) {
    $piece = fread($in, 65536);
    if ($piece === false || $piece === '') {
        break;
    }
    hash_update($ctx, $piece);
    $total += strlen($piece);
}
echo $total, ' ', hash_final($ctx);
