"""Staff checks, one module per notebook (not given to students).

``grader_tests.<notebook>.check_<name>(fn, level)`` runs, at ``level="visible"``, the student-side
contract check of :mod:`dgm.checks` (what the notebook's visible test cells call), and at
``level="hidden"`` that check and then the grading checks, with the reference implementations and
the expected written answers (from ``derivations/``). :mod:`grader_tests.record_expected` records
the values the student-side checks compare with.
"""
