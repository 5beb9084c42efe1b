"""The LLM judging layer: providers over httpx, the dispatcher, accounting and metrics."""
