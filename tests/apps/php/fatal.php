<?php
polyhost_no_such_function_here();
