"""``python -m nestmix``: the same as the ``nestmix`` command."""

import sys

from nestmix.cli import main

sys.exit(main())
