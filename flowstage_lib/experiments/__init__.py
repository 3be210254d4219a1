"""The experiments behind each section of the book, named exactly like the notebooks.

- ``sec2_oracle``: Sec. 2 (Theorem 2.1 checks, the oracle field, oracle sampling)
- ``sec3_two_stage``: Sec. 3 (Figs. 2-3, the transition and its prediction)
- ``sec4_stages``: Sec. 4 (Figs. 4-7, 13-15, Table 1)
- ``sec5_practices``: Sec. 5 / App. B (Tables 2-3, Figs. 8-12)
- ``paper``: every number the paper prints, cited by figure/table
- ``criteria``: every verdict rule, one function per claim, each unit-tested

A notebook calls these functions, plots what they return and glues the numbers; no verdict is
decided anywhere else.
"""
