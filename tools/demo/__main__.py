"""``python -m tools.demo`` (``make demo``): the round trip of round_trip.py."""

import sys

from tools.demo.round_trip import main

sys.exit(main())
