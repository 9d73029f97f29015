"""The visible checks of the notebooks' test cells, one module per notebook.

A notebook's set-up cell imports its module (``from dgm.checks import gan as checks``) and the
test cells call ``checks.check_d_loss(d_loss)`` or
``checks.written_answers.check_format(...)``. These
checks test the contract of each graded function (names, shapes, dtypes, gradients, the usual
mistakes on fixed inputs) and hold no reference implementation and no expected answer: the values
they compare with were recorded once by the course staff (``expected.pt`` next to this file).
Grading runs further, hidden checks that students do not receive.
"""
