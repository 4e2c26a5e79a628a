"""The Emperor: many sites, each its own polyhost instance ("vassal"), one per config file.

monitors.py finds vassal configs (a directory, a glob, zmq), vassal.py starts one and keeps
the blacklist, emperor.py is the supervising loop, link.py is the vassal's side of the channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polyhost.config import Config


def run_emperor(config: Config) -> int:
    from polyhost.emperor.emperor import run

    return run(config)
