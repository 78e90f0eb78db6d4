"""``python -m convlens_client.cli``: the ``convlens`` command."""

import sys

from . import main

sys.exit(main())
