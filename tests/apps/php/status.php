<?php
http_response_code((int) ($_GET['code'] ?? 200));
header('X-Multi: a');
header('X-Multi: b', false);
echo 'status';
