"""The spooler function of the spooler tests, the same under real uWSGI and under polyhost.

It pickles the dict it receives to $SPOOL_RECORD_DIR/<task name>.pickle, appends the task name
to $SPOOL_RECORD_DIR/order.log (one line per run: the run order, and any double run) and returns
SPOOL_OK (-2).
"""

import os
import pickle


def record(task: dict) -> int:
    record_dir = os.environ["SPOOL_RECORD_DIR"]
    name = task["spooler_task_name"].decode()
    temp = os.path.join(record_dir, f".{name}.{os.getpid()}.tmp")
    with open(temp, "wb") as out:
        pickle.dump(task, out)
    os.rename(temp, os.path.join(record_dir, f"{name}.pickle"))
    with open(os.path.join(record_dir, "order.log"), "a") as order:
        order.write(f"{name}\n")
    return -2
