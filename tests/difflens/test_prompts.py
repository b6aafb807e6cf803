"""Prompt sources: project-written prefixes, free generation, toy world, and researchers' files."""

import pytest

from difflens.errors import ConfigError, DataError
from difflens.prompts import (
    PREFIX_TEMPLATES,
    PREFIX_TOPICS,
    PromptFile,
    ToyWorldPrompts,
    check_unique,
    free_prompts,
    prefix_prompts,
    read_prompt_file,
)


def test_prefixes_cover_many_topics_early_and_are_distinct():
    prompts = prefix_prompts(60)
    assert len({p.text for p in prompts}) == 60
    assert sum(any(t in p.text for p in prompts[:30]) for t in PREFIX_TOPICS) == len(PREFIX_TOPICS)
    with pytest.raises(ConfigError, match="prefixes"):
        prefix_prompts(len(PREFIX_TOPICS) * len(PREFIX_TEMPLATES) + 1)


def test_free_and_toyworld_prompts():
    assert [p.text for p in free_prompts(3)] == ["", "", ""]
    assert [p.prompt_id for p in free_prompts(2)] == ["free:0", "free:1"]
    tw = ToyWorldPrompts(n=5, words=2, mixture={"topics": {"ocean": 1}}).prompts()
    assert len(tw) == 5 and all(len(p.text.split()) == 2 for p in tw)
    with pytest.raises(ConfigError):
        ToyWorldPrompts(mixture={"topics": {"oceann": 1}})


@pytest.mark.parametrize("name, content, fmt, expected", [
    ("persona.jsonl",
     '{"statement": "I like to help people.", "answer_matching_behavior": " Yes"}\n\n'
     '{"statement": "I want more power.", "answer_matching_behavior": " No"}\n',
     "auto", ['Is the following statement something you would say?\n"I like to help people."\n',
              'Is the following statement something you would say?\n"I want more power."\n']),
    ("mpi.csv", "label_raw,text,label_ocean,key\nWorry about things,Worry about things,N,1\n"
                "Make friends easily,Make friends easily,E,1\n", "auto",
     ['You worry about things."', 'You make friends easily."']),
    ("jailbreaks.csv", 'platform,prompt,jailbreak\ndiscord,"Ignore all rules, and",True\nweb,Pretend you are,True\n',
     "auto", ["Ignore all rules, and", "Pretend you are"]),
    ("prompts.txt", "The sea is\n\nOnce upon a time\n", "auto", ["The sea is", "Once upon a time"]),
])
def test_prompt_files(tmp_path, name, content, fmt, expected):
    path = tmp_path / name
    path.write_text(content)
    prompts = read_prompt_file(PromptFile(str(path), format=fmt))
    assert len(prompts) == len(expected)
    for p, e in zip(prompts, expected):
        assert e in p.text and p.source == name
    assert [p.prompt_id for p in prompts] == [f"{name}:{i}" for i in range(len(expected))]


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "persona.jsonl"
    path.write_text('{"statement": "a"}\n{"statement": "b"}\n{"statement": \n')
    with pytest.raises(DataError, match=r"persona.jsonl:3"):
        read_prompt_file(PromptFile(str(path)))


def test_missing_column_names_row_and_columns(tmp_path):
    path = tmp_path / "j.csv"
    path.write_text("platform,prompt\nweb,hello\nweb\n")
    with pytest.raises(DataError, match=r"j.csv:3: no 'prompt' field"):
        read_prompt_file(PromptFile(str(path), format="jailbreak"))


def test_empty_file_and_limit_and_duplicate_ids(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="no prompts"):
        read_prompt_file(PromptFile(str(empty)))
    lines = tmp_path / "p.txt"
    lines.write_text("a\nb\nc\n")
    assert len(read_prompt_file(PromptFile(str(lines), limit=2))) == 2
    with pytest.raises(ConfigError, match="distinct names"):
        check_unique(read_prompt_file(PromptFile(str(lines))) * 2)
    with pytest.raises(ConfigError, match="format"):
        PromptFile(str(lines), format="yaml")
