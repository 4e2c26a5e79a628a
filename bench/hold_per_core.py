"""What `--hold-per-core 1` costs in keep-alive throughput: polyhost with and without it.

Both instances (2 workers, hello-world WSGI) run side by side; wrk loads one, then the other,
alternating which goes first each round; the median req/s of each and their ratio are printed.
Run `cd bench && ../.venv/bin/python hold_per_core.py -c 16 --rounds 6`; the faults it buys off
are measured by `faults_under_load.py --hold-per-core 1`.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import statistics
import subprocess
import sys
import tempfile

from harness import (
    LOOPBACK,
    REPO,
    free_port,
    machine_description,
    parse_wrk_output,
    polyhost_argv,
    stop_process_group,
    wait_until_serving,
)

WSGI_FILE = "bench/apps/hello_wsgi.py"
VARIANTS = {"hold 0 (default)": [], "hold 1": ["--hold-per-core", "1"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("-d", "--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    print(f"machine: {machine_description()}")
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s keep-alive, {args.rounds} rounds")
    with contextlib.ExitStack() as stack:
        ports: dict[str, int] = {}
        for name, options in VARIANTS.items():
            port = ports[name] = free_port()
            log = stack.enter_context(tempfile.TemporaryFile())
            process = subprocess.Popen(
                polyhost_argv(port, "--wsgi-file", WSGI_FILE, *options),
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            stack.callback(stop_process_group, process, signal.SIGINT)
            wait_until_serving(process, port, "/", 30, log)
        rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for round_ in range(args.rounds):
            order = list(VARIANTS) if round_ % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                url = f"http://{LOOPBACK}:{ports[name]}/"
                wrk = ["wrk", "--latency", "-t2", f"-c{args.connections}", f"-d{args.duration}s"]
                out = subprocess.run(
                    [*wrk, url], capture_output=True, text=True, timeout=args.duration + 30
                ).stdout
                result = parse_wrk_output(out)
                rates[name].append(result.requests_per_second)
                print(f"round {round_}: {name}: {result.requests_per_second:,.0f} req/s"
                      f" (errors {result.errors})", flush=True)  # fmt: skip
    medians = {name: statistics.median(values) for name, values in rates.items()}
    per_round = [one / zero for zero, one in zip(*rates.values(), strict=True)]
    print(" | ".join(f"{name}: {value:,.0f} req/s" for name, value in medians.items()))
    print(f"hold 1 / hold 0 = {medians['hold 1'] / medians['hold 0 (default)']:.2f} (medians);"
          f" per round {', '.join(f'{r:.2f}' for r in per_round)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
