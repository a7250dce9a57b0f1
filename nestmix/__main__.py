"""``python -m nestmix``: the same as the ``nestmix`` command (Ctrl-C handled from the start,
:mod:`nestmix._entry`)."""

import sys

from nestmix._entry import main

sys.exit(main())
