<?php
// Streams ?mb= megabytes, flushing as it goes.
$block = str_repeat('0123456789abcdef', 65536);
$count = (int) ($_GET['mb'] ?? 1);
header('Content-Type: application/octet-stream');
for ($i = 0; $i < $count; $i++) {
    echo $block;
    flush();
}
