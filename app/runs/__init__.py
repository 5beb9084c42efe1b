"""Runs over durable state: the orchestrator, the finaliser and the monitor."""
