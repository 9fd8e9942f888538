"""LLM backends: the embedded llama.cpp server and the distilabel LLMs built from config."""
