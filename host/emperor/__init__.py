"""The Emperor: many sites, each its own polyhost instance ("vassal"), one per config file.

monitors.py finds vassal configs (a directory, a glob, zmq), vassal.py starts one and keeps
the blacklist, emperor.py is the supervising loop, link.py is the vassal's side of the channel
(channel.py its vocabulary), handover.py moves the Emperor into a slim interpreter (boot.py),
zygote.py forks the vassals, inotify.py watches their folders.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the slim Emperor 1 MiB (emperor/handover.py)

if TYPE_CHECKING:
    from polyhost.config import Config


def run_emperor(config: Config) -> int:
    """Become the Emperor: exec'd into its slim loop (returns only on failure)."""
    from polyhost.emperor.handover import hand_over

    return hand_over(config)
