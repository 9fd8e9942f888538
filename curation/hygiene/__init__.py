"""`curate hygiene`: know what is in the data before selection.

- `dedup`: near-verbatim copies (MinHash LSH from datasketch, exact Jaccard confirms each drop);
- `decontam`: overlap with evaluation benchmarks the user names (word n-grams);
- `pii`: personal data and secrets (Presidio's pattern recognizers), optionally redacted;
- `clusters`: topics of the instruction embeddings (scikit-learn), for the dashboard;
- `stage`: the run stage that writes `hygiene.parquet` and the rows that go on to selection.
"""
