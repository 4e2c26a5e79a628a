<?php
echo "php index at ", $_SERVER['SCRIPT_NAME'], "\n";
