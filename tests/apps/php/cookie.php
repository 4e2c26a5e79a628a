<?php
setcookie('first', 'one');
setcookie('second', 'two', ['path' => '/', 'httponly' => true]);
ksort($_COOKIE);
echo json_encode($_COOKIE);
