<?php
// The uwsgi_* functions: process facts, and the fabric calls (errors reported as text).
$result = ['version' => uwsgi_version(), 'worker_id' => uwsgi_worker_id(),
    'masterpid' => uwsgi_masterpid(), 'setprocname' => uwsgi_setprocname('php-test'),
    'comm' => trim(file_get_contents('/proc/self/comm'))];
foreach (['rpc' => fn() => uwsgi_rpc('', 'hello', 'a'), 'signal' => fn() => uwsgi_signal(17),
          'cache_get' => fn() => uwsgi_cache_get('k'), 'cache_set' => fn() => uwsgi_cache_set('k', 'v'),
          'cache_update' => fn() => uwsgi_cache_update('k', 'v'), 'cache_del' => fn() => uwsgi_cache_del('k'),
          'cache_exists' => fn() => uwsgi_cache_exists('k')] as $name => $call) {
    try {
        $result[$name] = $call();
    } catch (RuntimeException $e) {
        $result[$name] = $e->getMessage();
    }
}
header('Content-Type: application/json');
echo json_encode($result);
