<?php
// a visit counter in the session, which the "uwsgi" save handler keeps in the cache
session_start();
$_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;
echo "visits {$_SESSION['visits']} in cache " . (uwsgi_cache_exists(session_id(), 'mysessions') ? 'yes' : 'no');
