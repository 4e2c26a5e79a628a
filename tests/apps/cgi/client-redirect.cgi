#!/bin/sh
printf 'Location: http://example.invalid/elsewhere\r\n\r\n'
