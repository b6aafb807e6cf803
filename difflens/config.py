"""Config dataclasses read with jsonargparse, the parser behind the Lightning commands.

The project's own commands (``discover``, ``pipeline``, ``audit``, ``encyclopedia refine``)
describe their settings as typed dataclasses with a docstring line per field. `read_config`
reads a YAML file into one, `config_from_mapping` builds one from a mapping found inside an
already-read config, and both report every mistake (an unknown key, a value of the wrong type,
a missing key, a value a ``__post_init__`` refuses) as one `ConfigError` line that names the
file or enclosing key and the key itself. `config_yaml` is what ``--print_config`` prints and
`config_keys_help` is what ``--help`` lists: both come from the same parser.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import re
import textwrap
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from jsonargparse import ArgumentError, ArgumentParser

from difflens.errors import ConfigError, SettingError

Config = TypeVar("Config")


def config_parser(cls: type) -> ArgumentParser:
    """A jsonargparse parser whose keys are ``cls``'s fields (nested dataclasses as dotted keys)."""
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls, fail_untyped=True)
    return parser


def config_from_mapping(cls: type[Config], mapping: Mapping, where: str) -> Config:
    """``cls`` built from ``mapping``, every value checked against the field's type.

    Args:
        cls: a dataclass whose fields are typed (nested dataclasses and lists of them too).
        mapping: its settings; a key left out takes the field's default.
        where: what ``mapping`` is, for messages: a file, or the key it sits under.

    Raises:
        ConfigError: ``{where}: {key}: {what is wrong}``, on one line.
    """
    parser = config_parser(cls)
    try:
        values = parser.instantiate(parser.parse_object(_prepared(cls, _settings(mapping, where))))
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.init})
    except ArgumentError as err:
        raise ConfigError(f"{where}: {_describe(err, cls, mapping)}") from None
    except ConfigError as err:  # from _prepared, or a __post_init__ that refuses a value
        raise ConfigError(f"{where}: {locate_setting(err, mapping)}") from None


def locate_setting(err: ConfigError, config: Mapping) -> ConfigError:
    """``err`` with its full key when it is a `SettingError` whose field and value occur in
    ``config``: the first key that holds them, ``class_path``/``init_args`` levels left out;
    else ``err`` itself.

    A nested config object built by the parser (a `ModelSpec` under ``model.init_args.base``)
    knows only its own field names; this finds where it sat.
    """
    if not isinstance(err, SettingError):
        return err
    found = [key for key, value in _leaves(config, "") if key.rsplit(".", 1)[-1] == err.setting
             and value == err.value]
    # the parser builds objects in config order, so the first match is the one refused
    return err.within(found[0].rsplit(".", 1)[0]) if found and "." in found[0] else err


def _leaves(config: Any, prefix: str):
    """``(dotted key, value)`` of every leaf of nested mappings, ``init_args`` levels skipped."""
    for key, value in config.items():
        path = prefix if key == "init_args" else f"{prefix}{key}."
        if isinstance(value, Mapping):
            yield from _leaves(value, path)
        else:
            yield path.rstrip("."), value


def read_config(cls: type[Config], path: str | Path, overrides: Mapping | None = None) -> Config:
    """``cls`` from the YAML file at ``path``, with ``overrides`` (command-line flags) on top.

    Raises:
        ConfigError: the file is missing or not a YAML mapping, or a setting is wrong
            (named by file and key, see `config_from_mapping`).
    """
    from difflens.files import read_yaml_mapping

    raw = read_yaml_mapping(path)
    return config_from_mapping(cls, {**raw, **(overrides or {})}, where=str(path))


def config_yaml(config: Any) -> str:
    """Every setting of the config dataclass ``config`` as YAML that `read_config` reads back
    to an equal config (what ``--print_config`` prints)."""
    parser = config_parser(type(config))
    return parser.dump(parser.parse_object(dataclasses.asdict(config)), format="yaml")


def config_keys_help(cls: type) -> str:
    """One entry per key of ``cls`` (dotted for nested settings, ``stages[].name`` for a list
    of them) with its field docstring, type and default, for a command's ``--help``."""
    return "\n".join(_key_lines(cls, prefix=""))


def _key_lines(cls: type, prefix: str) -> list[str]:
    parser = config_parser(cls)
    formatter = parser._get_formatter()
    lines = []
    for action in parser._actions:
        if action.default is argparse.SUPPRESS:  # --help, and the "file of nested settings" flags
            continue
        help_text = formatter._expand_help(action)  # "doc (type: int, default: 30)", as jsonargparse prints it
        lines.append(textwrap.fill(f"{prefix}{action.dest}: {' '.join(help_text.split())}", width=100,
                                   initial_indent="  ", subsequent_indent="      "))
        item, is_list = _dataclass_in(_field_types(cls).get(action.dest))
        if is_list:
            lines += _key_lines(item, prefix=f"{prefix}{action.dest}[].")
    return lines


def build_class_path(base: type[Config], spec: Mapping, where: str) -> Config:
    """An instance of a subclass of ``base`` from ``{class_path: pkg.mod.Class, init_args: {...}}``.

    Raises:
        ConfigError: the class cannot be imported, is not a ``base``, or refuses its arguments.
    """
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(base, "instance", fail_untyped=False, required=True)
    try:
        return parser.instantiate(parser.parse_object({"instance": dict(spec)})).instance
    except ArgumentError as err:
        # the parser's own name for the spec, "instance", is the user's class_path and init_args
        message = _describe(err, None, {"instance": spec})
        message = re.sub(r"^'?instance: ", "class_path: ", re.sub(r"\binstance\.", "init_args.", message))
        raise ConfigError(f"{where}: {message}") from None


# ---- nested mappings -------------------------------------------------------------------------

def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _dataclass_in(hint: Any) -> tuple[type | None, bool]:
    """The dataclass a field holds, and whether it holds a list of them (``list[PipelineStage]``)."""
    if dataclasses.is_dataclass(hint):
        return hint, False
    args = typing.get_args(hint)
    if typing.get_origin(hint) is list and args and dataclasses.is_dataclass(args[0]):
        return args[0], True
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arg in args:
            found = _dataclass_in(arg)
            if found[0] is not None:
                return found
    return None, False


def _prepared(cls: type, mapping: dict, prefix: str = "") -> dict:
    """``mapping`` checked for what jsonargparse lets through, and with each nested settings
    mapping completed from its own class's defaults.

    jsonargparse reads ``null`` as "not given" for any type, and a string given for a nested
    group as a file to load; here a ``null`` is refused where the field's type has no None (but
    an empty group is an empty mapping), and a nested group must be a mapping.

    A nested mapping stands on its own: a key it leaves out takes the default of its class, not
    of the enclosing field's default instance. The two differ where a field's default switches
    something off: ``proposal.contrast`` defaults to ``ContrastSettings(rounds=0)``, yet
    ``contrast: {texts_per_side: 30}`` asks for the stage, with the class's 3 rounds.

    Raises:
        ConfigError: a ``null`` or a nested group that is not a mapping, named by key.
    """
    out = dict(mapping)
    for name, hint in _field_types(cls).items():
        if name not in out:
            continue
        key, value = f"{prefix}{name}", out[name]
        nested, is_list = _dataclass_in(hint)
        if value is None and nested is not None and not is_list and not _allows_none(hint):
            value = {}  # a group whose keys are all left out (``stage3:`` alone): its class's defaults
        if value is None and not _allows_none(hint):
            raise ConfigError(f"{key}: expected {_type_name(hint)}, got null")
        if nested is None or value is None:
            continue
        if is_list and isinstance(value, list):
            out[name] = [_prepared(nested, _settings(item, f"{key}[{i}]"), f"{key}[{i}].")
                         for i, item in enumerate(value)]
        elif not is_list:
            out[name] = {**_defaults(nested), **_prepared(nested, _settings(value, key), f"{key}.")}
    return out


def _settings(value: Any, key: str) -> dict:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a mapping of settings, got {value!r}")
    return dict(value)


def _allows_none(hint: Any) -> bool:
    return hint is Any or hint is type(None) or type(None) in typing.get_args(hint)


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def _defaults(cls: type) -> dict:
    """The defaults of ``cls``'s fields as plain data (nested dataclasses as mappings)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            continue
        out[f.name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    return out


# ---- jsonargparse's errors in one line -----------------------------------------------------

_UNKNOWN = (re.compile(r"Group '(?P<group>[^']+)' does not accept option '(?P<key>[^']+)'"),
            re.compile(r"Option '(?P<key>[^']+)' is not accepted"))
_MISSING = re.compile(r"the following arguments are required: (?P<keys>.+)")
_WRONG_TYPE = re.compile(r"Expected a <class '(?P<type>\w+)'>\. Got value: (?P<value>.*)")
_KEY = re.compile(r'Parser key "(?P<key>[^"]+)":')
# jsonargparse's explanation lines that say nothing the user can act on
_NOISE = re.compile(r"^(- )?(Problem with given class_path|Does not validate against any of the Union subtypes|"
                    r"Subtypes:|Errors:|Given value type:|Given value:|Expected a <class 'NoneType'>)")


def _describe(err: ArgumentError, cls: type | None, mapping: Mapping) -> str:
    """``{key}: {what is wrong}`` from a jsonargparse error, which nests one ``Parser key``
    line per level above the problem."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    prefix = [m.group("key") for line in lines if (m := _KEY.match(line))]
    details = [line for line in lines if not _KEY.match(line) and not _NOISE.match(line)]
    last = details[-1] if details else str(err)
    for pattern in _UNKNOWN:
        if m := pattern.search(last):
            group = m.groupdict().get("group")
            key = ".".join([*prefix, *([group] if group else []), m.group("key")])
            return _unknown_key(cls, key, mapping)
    if m := _MISSING.search(last):
        keys = [".".join([*prefix, k.strip()]) for k in m.group("keys").split(",")]
        return f"missing key(s) {', '.join(_locate(mapping, k, lambda found, _: not found) for k in keys)}"
    if m := _WRONG_TYPE.search(last):
        given = m.group("value")
        key = _locate(mapping, ".".join(prefix), lambda found, value: found and str(value) == given)
        return f"{key}: expected {m.group('type')}, got {given!r}"
    text = " ".join(line.lstrip("- ") for line in details)
    return f"{'.'.join(prefix)}: {text}" if prefix else text


def _unknown_key(cls: type | None, key: str, mapping: Mapping) -> str:
    located = _locate(mapping, key, lambda found, _: found)  # stages.when -> stages[2].when
    parent, name = key.rpartition(".")[0], key.rpartition(".")[2]
    where = located.rpartition(".")[0]
    known = _keys_at(cls, parent) if cls is not None else []
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" (did you mean {'.'.join(filter(None, [where, close[0]]))!r}?)" if close else ""
    listed = f"; the keys{f' of {where}' if where else ''} are: {', '.join(known)}" if known else ""
    return f"unknown key {located!r}{hint}{listed}"


def _keys_at(cls: type, dotted: str) -> list[str]:
    """The field names of the settings at ``dotted`` (a nested dataclass, or a list of them)."""
    for part in filter(None, dotted.split(".")):
        cls = _dataclass_in(_field_types(cls).get(part))[0]
        if cls is None:
            return []
    return [f.name for f in dataclasses.fields(cls)]


def _locate(mapping: Any, dotted: str, wanted: Callable[[bool, Any], bool]) -> str:
    """``dotted`` with the index of the list item it is in (``stages[2].run``): the first item
    where ``wanted(found, value)`` holds for the rest of the key."""
    head, _, rest = dotted.partition(".")
    value = mapping.get(head) if isinstance(mapping, Mapping) else None
    if not rest:
        return head
    if isinstance(value, list):
        for i, item in enumerate(value):
            if wanted(*_lookup(item, rest)):
                return f"{head}[{i}].{_locate(item, rest, wanted)}"
    return f"{head}.{_locate(value, rest, wanted)}"


def _lookup(mapping: Any, dotted: str) -> tuple[bool, Any]:
    """Whether ``dotted`` is set in ``mapping``, and its value."""
    for part in dotted.split("."):
        if not isinstance(mapping, Mapping) or part not in mapping:
            return False, None
        mapping = mapping[part]
    return True, mapping
