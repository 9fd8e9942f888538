"""curation: annotation-in-the-loop curation of synthetic LLM training data."""

__version__ = "0.1.0"
