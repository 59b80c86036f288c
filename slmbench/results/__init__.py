"""The results half: from each cell's generations to the tables, figures and pages of the report.

`catalog` lists every table and figure (what builds it, its caption in report/, its report
category); `cells` collects the per-cell and per-sample tables; `stats` holds the study's
statistics; `tables` builds the analysis tables; `headline` writes summary.json; `html`
renders the table pages and `page` the frame of every page; `figures` draws the plots;
`trace_page` renders one cell's traces;
`outcomes` prints how each cell's samples ended; `build` writes every table and figure (the
results job). Importing this package imports nothing heavy, so the rules can read the catalog
without pandas.
"""
