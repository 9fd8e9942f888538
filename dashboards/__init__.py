"""The Streamlit dashboard over a run directory (`curate dashboard`; entry point `app.py`).

`data.py` reads the run files (cached), `charts.py` turns tables into Plotly figures,
`ui.py` holds the shared page pieces, and `views/` has one script per page.
"""
