"""Approved records out of Argilla as a training dataset (`curate export`).

- `formats`: the approved rows as TRL's conversational `sft` / `dpo` tables.
- `card`: the dataset card, from the exported rows and the run that made them.
- `publish`: a local folder (atomic) or one commit to a Hub dataset repo.
- `command`: `curate export` and the demo step, which tie them together.
"""
