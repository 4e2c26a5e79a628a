#!/bin/sh
# Prints the RFC 3875 meta-variables it was given, one NAME=value per line.
printf 'Content-Type: text/plain\r\n\r\n'
for name in GATEWAY_INTERFACE SERVER_SOFTWARE SERVER_NAME SERVER_PORT SERVER_PROTOCOL \
    REQUEST_METHOD SCRIPT_NAME SCRIPT_FILENAME PATH_INFO PATH_TRANSLATED QUERY_STRING \
    REMOTE_ADDR CONTENT_TYPE CONTENT_LENGTH DOCUMENT_ROOT REQUEST_URI HTTP_HOST HTTP_X_CUSTOM \
    HTTP_PROXY REDIRECT_STATUS; do
    eval "set=\${$name+x}"
    if [ -n "$set" ]; then eval "printf '%s=%s\n' $name \"\$$name\""; fi
done
printf 'CWD=%s\n' "$(pwd)"
printf 'ARGS=%s\n' "$*"
