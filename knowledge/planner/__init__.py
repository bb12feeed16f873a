"""The planner: from a request to an engine-validated blueprint, with or without an LLM."""
