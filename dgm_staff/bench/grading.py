"""Grading speed: one whole-course submission, and a class graded with 1 vs. 2 workers.

    python -m dgm_staff.bench.grading [--students 40] [--notebook 01_vae] [--skip-class]

1. One student submitting every notebook of the course (the reference solution): seconds per
   notebook and in total (one worker).
2. ``--students`` synthetic submissions of one notebook (reference, buggy and untouched in turn),
   graded by ``python -m dgm_staff.grade_class`` with 1 worker and with 2: wall times, their ratio, and
   whether the two grade tables are identical.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
import time
from pathlib import Path

from dgm_staff.bench.autograde import measure, write_submission
from dgm_staff.grade_class import grade_class


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dgm_staff.bench.grading",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--notebook", default="01_vae")
    parser.add_argument("--skip-class", action="store_true")
    parser.add_argument("--skip-course", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.skip_course:
            result = measure()
            print("| notebook | autograde s |\n|---|---:|")
            for row in result["notebooks"]:
                print(f"| {row['notebook']} | {row['seconds']:.1f} |")
            print(f"| whole course ({len(result['notebooks'])} notebooks), incl. release and "
                  f"feedback | {result['whole_course_seconds']:.1f} |\n")
        if not args.skip_class:
            inbox = tmp / "class_inbox"
            inbox.mkdir()
            kinds = ["reference", "buggy", "untouched"]
            for k in range(args.students):
                write_submission(inbox, f"student{k:03d}", args.notebook, kinds[k % 3])
            walls = {}
            for workers in (1, 2):
                start = time.perf_counter()
                grade_class(inbox, tmp / f"class_{workers}", workers=workers,
                            assignments=[args.notebook], progress=False)
                walls[workers] = time.perf_counter() - start
            same = filecmp.cmp(tmp / "class_1" / "grades.csv", tmp / "class_2" / "grades.csv",
                               shallow=False)
            print(f"| {args.students} submissions of {args.notebook} | wall s |\n|---|---:|")
            print(f"| 1 worker | {walls[1]:.0f} |\n| 2 workers | {walls[2]:.0f} |")
            print(f"| speed-up | {walls[1] / walls[2]:.2f}x |")
            print(f"| grades.csv identical | {'yes' if same else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
