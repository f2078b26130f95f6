"""``python -m labs_cli``: the same as the ``labs`` command."""

import sys

from labs_cli.cli import main

sys.exit(main())
