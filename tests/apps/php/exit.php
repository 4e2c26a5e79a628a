<?php
echo "before exit\n";
exit(0);
echo "after exit\n";
