"""Generation with distilabel: instructions (SelfInstruct, Magpie, EvolInstruct) and scored
preference pairs (several generators, EvolQuality, UltraFeedback, Deita scorers).

`stage.generate` is the entry point (`curate generate`, the demo's generate step).
Nothing here reaches the internet: the Hugging Face libraries are set offline before any of
them is imported, unless the environment says otherwise explicitly.
"""

import os

for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_name, "1")
