"""Run by real uWSGI (`--pyrun`): spools the tasks pickled in SPOOL_TASKS with `uwsgi.spool`.

SPOOL_TASKS holds a list of dicts (bytes keys and values, b'body' for the body); the paths
`uwsgi.spool` returns are pickled to SPOOL_PATHS, in the same order.
"""

import os
import pickle

import uwsgi

with open(os.environ["SPOOL_TASKS"], "rb") as tasks_file:
    tasks = pickle.load(tasks_file)
paths = [uwsgi.spool(dict(task)) for task in tasks]
with open(os.environ["SPOOL_PATHS"], "wb") as paths_file:
    pickle.dump(paths, paths_file)
