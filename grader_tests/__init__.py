"""The staff's hidden checks: what the autograder runs on a student's notebook, never given to
students (the student bundle and the release leave this package out).

Not a test suite of the course's code (that is ``tests/``): these are the graders. One module per
notebook, named as in :mod:`dgm.manifest` (``Notebook.staff_checks``).
``grader_tests.<notebook>.check_<name>(fn, level)`` runs, at ``level="visible"``, the
student-side contract check of :mod:`dgm.checks` (what the notebook's visible test cells call),
and at ``level="hidden"`` that check and then the grading checks, with the reference
implementations and the expected written answers (from ``derivations/``), ending with the
randomised layer (:mod:`grader_tests.randomised`, inputs drawn at grading time,
:mod:`grader_tests.grading_inputs`). :mod:`grader_tests.written_answers` reads written answers
back from the student's kernel; :mod:`grader_tests.record_expected` records the values the
student-side checks compare with. See ``README.md`` here.
"""
