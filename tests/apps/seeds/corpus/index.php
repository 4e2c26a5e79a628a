<?php echo "Hello from PHP " . basename($_SERVER['SCRIPT_FILENAME']); ?>
