"""``python -m tools.bench`` (``make bench``): the headline benchmark, headline.py."""

import sys

from tools.bench.headline import main

sys.exit(main())
