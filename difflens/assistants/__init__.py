"""Assistants: the LLM jobs of difflens (write examples, propose hypotheses, judge texts)."""

from difflens.assistants.base import Assistant

__all__ = ["Assistant"]
