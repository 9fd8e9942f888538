"""Generation with distilabel: instructions (SelfInstruct, Magpie, EvolInstruct) and scored
preference pairs (several generators, EvolQuality, UltraFeedback, Deita scorers).

`stage.generate` is the entry point (`curate generate`, the demo's generate step).
Nothing here reaches the internet: the Hugging Face libraries are set offline before any of
them is imported, unless the environment says otherwise explicitly.
"""

import os
import warnings

for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_name, "1")

# distilabel 1.5.3 declares a field pydantic 2.14 warns about on import; not ours to fix,
# and a user error must stay one line.
warnings.filterwarnings("ignore", message="The 'default' attribute with value None")
