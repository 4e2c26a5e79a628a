<?php
// The CGI variables and request data PHP sees, as JSON.
header('Content-Type: application/json');
$keys = ['SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_INFO', 'PATH_TRANSLATED', 'DOCUMENT_ROOT',
    'REQUEST_URI', 'REQUEST_METHOD', 'QUERY_STRING', 'SERVER_SOFTWARE', 'GATEWAY_INTERFACE',
    'REMOTE_ADDR', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'HTTP_HOST', 'HTTP_X_CUSTOM',
    'CONTENT_TYPE', 'CONTENT_LENGTH', 'PHP_SELF', 'HTTP_PROXY', 'POLYHOST_EXTRA'];
$server = [];
foreach ($keys as $key) {
    $server[$key] = $_SERVER[$key] ?? null;
}
echo json_encode(['server' => $server, 'get' => $_GET, 'post' => $_POST,
    'sapi' => php_sapi_name(), 'cwd' => getcwd(), 'pid' => getmypid()]);
