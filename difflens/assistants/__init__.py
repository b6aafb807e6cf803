"""Assistants: the LLM jobs of difflens (write examples, propose hypotheses, judge texts)."""

from difflens.assistants.base import Assistant
from difflens.assistants.offline import OfflineAssistant
from difflens.assistants.registry import BACKENDS, build_assistant

__all__ = ["Assistant", "BACKENDS", "OfflineAssistant", "build_assistant"]
