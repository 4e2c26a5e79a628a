<?php
// The PHP corner of the metrics tests.
$done = uwsgi_metric_inc('hits.php', 5);
echo var_export($done, true), ' ', var_export(uwsgi_metric_inc('nope'), true), ' ', uwsgi_metric_get('hits.php');
