<?php
// The PHP corner of the cross-language fabric tests (mounted at /php): PHP calls and shares,
// it registers nothing (uWSGI's PHP API has no register_rpc either).
$q = $_GET;
switch ($q['op'] ?? '') {
    case 'call':
        $args = ($q['args'] ?? '') === '' ? [] : explode(',', $q['args']);
        echo uwsgi_rpc('', $q['fn'], ...$args);
        break;
    case 'cache_set':
        echo uwsgi_cache_update($q['k'], $q['v'], 0, 'shared') ? 'true' : 'false';
        break;
    case 'cache_get':
        echo uwsgi_cache_get($q['k'], 'shared') ?? 'MISS';
        break;
    case 'signal':
        uwsgi_signal((int) $q['num']);
        echo 'raised';
        break;
    default:
        echo 'php';
}
