<?php
// $_FILES as PHP parsed the multipart body: name, size and md5 of each upload.
$out = [];
foreach ($_FILES as $field => $file) {
    $out[$field] = ['name' => $file['name'], 'size' => $file['size'], 'error' => $file['error'],
        'md5' => $file['error'] === UPLOAD_ERR_OK ? md5_file($file['tmp_name']) : null];
}
header('Content-Type: application/json');
echo json_encode(['files' => $out, 'post' => $_POST]);
