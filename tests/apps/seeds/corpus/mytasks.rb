# rbrequire'd by the Ruby spooler example: its code runs before the app
$polyhost_tasks_loaded = true
