"""nbgrader configuration of the course: source notebooks in solutions/, release in notebooks/.

Everything is set in dgm_staff.pipeline.configure, so that the course commands and this file agree.
"""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
if str(here) not in sys.path:
    sys.path.insert(0, str(here))

from dgm_staff.pipeline import configure  # noqa: E402

c = get_config()  # noqa: F821 - provided by nbgrader
configure(c, root=here)
