"""python -m simlib"""

import sys

from .cli import main

sys.exit(main())
