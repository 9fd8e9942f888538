"""The AI judge of preference pairs: signals, a fixed rule, a calibration, and its report.

- `pairs`: reading labelled or unlabelled pairs (JSONL) and writing verdicts;
- `relevance`: cosine between the instruction and each answer (all-MiniLM-L6-v2), so an
  answer written for another instruction never wins;
- `pairwise`: the LLM sees both answers, asked in both orders, read from the
  probabilities of its first token (MT-Bench / AlpacaEval style);
- `signals`: every signal of a pair in one table (with the UltraFeedback rating and the
  length as explicit features), and the panel of judges;
- `verdict`: the fixed rule without a calibration, and a tie only where p(a) is near 1/2;
- `calibration`: a logistic regression (scikit-learn) fitted on people's labels;
- `report`: accuracy against people with intervals, next to the length rule, and the bias
  report (length bias, position consistency, a judge that is also a generator);
- `commands`: `curate judge eval` and `curate judge calibrate`; `preferences`: the same
  judge deciding chosen/rejected in `curate generate`.
"""

# The generation package sets the Hugging Face libraries offline and silences distilabel's
# import-time pydantic warning (a user error must stay one line); the judge needs both.
import curation.generate  # noqa: F401
