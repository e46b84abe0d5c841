"""Tools that are not part of the pipeline: the sample and scale-inbox generator — `synthetic.py`
(build and write an inbox), `generic_inbox.py` (the ordinary data) and `edge_cases.py` (the table
of special cases the sample's README lists)."""
