"""Staff-only code of the course: the grading pipeline and its judge, the class command, the
course commands (release, demo, student bundle), reference networks, and the benchmarks.

Nothing here is handed to students: the student bundle (``python -m dgm_staff.course bundle``)
holds the release notebooks and the ``dgm`` package only, and a test proves that it contains no
graded answer, reference or hidden check.
"""
