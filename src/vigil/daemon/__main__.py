"""`python -m vigil.daemon` runs vigild."""

from vigil.daemon.main import main

raise SystemExit(main())
