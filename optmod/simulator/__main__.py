"""`python -m optmod.simulator`: run the simulated provider as its own server."""

from optmod.simulator.command import main

raise SystemExit(main())
