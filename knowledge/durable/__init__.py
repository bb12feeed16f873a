"""Durable runs: the store as the engine's event sink, crash recovery, and resuming."""
