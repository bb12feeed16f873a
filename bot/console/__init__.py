"""The terminal surface: readable traces, prompts, and (later) the local chat console."""
