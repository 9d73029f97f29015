"""``python -m dgm_staff.bench run|report``: see :mod:`dgm_staff.bench.runner`."""

import sys

from dgm_staff.bench.runner import main

if __name__ == "__main__":
    sys.exit(main())
