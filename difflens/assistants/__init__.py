"""Assistants: the LLM jobs of difflens (write examples, propose hypotheses, judge texts).

``build_assistant("offline" | "openai" | "local", **kwargs)`` builds one by backend name.
"""

from difflens.assistants.base import Assistant
from difflens.assistants.cache import ReplyCache
from difflens.assistants.chat import AssistantError, BudgetExceededError, ChatAssistant
from difflens.assistants.local import LocalChatAssistant
from difflens.assistants.offline import OfflineAssistant
from difflens.assistants.openai_compatible import OpenAICompatibleAssistant
from difflens.assistants.prompts import PROMPTS
from difflens.assistants.registry import BACKENDS, build_assistant, load_assistant_config

__all__ = [
    "BACKENDS", "PROMPTS", "Assistant", "AssistantError", "BudgetExceededError", "ChatAssistant",
    "LocalChatAssistant", "OfflineAssistant", "OpenAICompatibleAssistant", "ReplyCache", "build_assistant",
    "load_assistant_config",
]
