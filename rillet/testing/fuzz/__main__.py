"""``python -m rillet.testing.fuzz``: run a fuzzing campaign (see ``campaign.main``)."""

import sys

from .campaign import main

if __name__ == "__main__":
    sys.exit(main())
