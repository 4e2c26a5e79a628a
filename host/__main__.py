"""`python -m polyhost` runs the command line."""

from polyhost.cli import main

raise SystemExit(main())
