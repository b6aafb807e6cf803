"""The local backend on the tiny GPT-2: plain fallback template, batched generation, cache."""

import pytest

from difflens.assistants import LocalChatAssistant, build_assistant
from difflens.assistants.local import plain_chat_prompt
from difflens.errors import ConfigError, ModelLoadError

TEXTS = ["The wave hits the shore.", "The pawn takes the rook.", "A whale sings.", "Bake the dough."]


def make(tiny_model_dir, run_dir, **kwargs):
    return build_assistant("local", **{"model": str(tiny_model_dir), "max_tokens": 6, "batch_size": 3,
                                       "cache_path": str(run_dir / "cache.sqlite"), **kwargs})


def test_tiny_gpt2_judges_in_batches_and_replays_from_the_cache(tiny_model_dir, run_dir):
    assistant = make(tiny_model_dir, run_dir)
    assert isinstance(assistant, LocalChatAssistant) and assistant._lm is None  # cheap constructor
    scores = assistant.judge_batch("Texts mention the ocean", TEXTS)
    assert len(scores) == 4 and all(s is None or 0 <= s <= 1 for s in scores)
    stats = assistant.stats
    # A random tiny model writes no score: each unreadable reply is counted, none is guessed.
    assert stats.unparsed == scores.count(None) and stats.completions == 4
    assert stats.requests == 2  # two generate calls: batches of 3 and 1
    assert 0 < stats.completion_tokens <= 4 * 6
    assert len(assistant.cache) == 4
    replay = make(tiny_model_dir, run_dir)
    assert replay.judge_batch("Texts mention the ocean", TEXTS) == scores
    assert (replay.stats.cache_hits, replay.stats.requests, replay._lm) == (4, 0, None)  # model never loaded


def test_batched_greedy_equals_one_at_a_time(tiny_model_dir, run_dir):
    batched = make(tiny_model_dir, run_dir, cache_path=None, batch_size=4)
    single = make(tiny_model_dir, run_dir, cache_path=None, batch_size=1)
    from difflens.assistants.chat import ChatRequest
    from difflens.assistants.prompts import Prompt

    short = Prompt("judge", "test", "Judge.", "{text}")  # short prompts of different lengths: real padding
    requests = [ChatRequest(short, short.messages(text=t * (i + 1))) for i, t in enumerate(TEXTS)]
    assert len({len(batched.render(r.messages)) for r in requests}) == 4
    assert batched.ask(requests) == single.ask(requests)


def test_templates(tiny_model_dir, run_dir):
    assistant = make(tiny_model_dir, run_dir)
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert assistant.render(messages) == plain_chat_prompt(messages) == "System: S\n\nUser: U\n\nAssistant:"
    assistant._tokenizer.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"
    assert assistant.render(messages) == "<system>S<user>U<assistant>"


def test_errors(tiny_model_dir, run_dir):
    with pytest.raises(ModelLoadError, match="does not exist"):
        make("/nonexistent/model", run_dir).judge("H", "T")
    with pytest.raises(ConfigError, match="no room for a prompt"):
        make(tiny_model_dir, run_dir, max_tokens=60).judge("H", "T")
    with pytest.raises(ConfigError, match="batch_size"):
        LocalChatAssistant(model="x", batch_size=0)
