"""The review loop in Argilla: templates, push, pull, consensus and routing."""
