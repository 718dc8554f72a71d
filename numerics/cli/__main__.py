"""``python -m numerics.cli`` runs the ``factmlp`` command line."""

import sys

from numerics.cli.app import main

sys.exit(main())
