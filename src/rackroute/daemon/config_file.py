"""The speaker daemon's configuration file: YAML in, a validated SpeakerConfig out.

The schema itself is speaker/config.py (the speaker runs on those models, and the node agent builds
them without any file); reading a file, and turning pydantic's errors into ``file:line: field:
reason`` messages, belongs to the daemon that is configured by one.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from ..speaker.config import ConfigError, SpeakerConfig

__all__ = ["ConfigError", "load_config", "parse_config"]


def _line_of(node: yaml.Node | None, location: tuple[str | int, ...]) -> int | None:
    """1-based line of the YAML node at ``location`` (as far down as the document goes)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in location:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _field_path(location: tuple[str | int, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def parse_config(text: str, source: str = "<string>") -> SpeakerConfig:
    try:
        document = yaml.safe_load(text)
        tree = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{where}: not valid YAML: {getattr(error, 'problem', error)}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping of settings at the top level")
    try:
        return SpeakerConfig.model_validate(document)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            location = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            # Drop pydantic's union-branch labels ("int", "literal[...]") from the location.
            location = tuple(p for p in location if not (isinstance(p, str) and ("[" in p or p == "int")))
            line = _line_of(tree, location)
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"{source}{f':{line}' if line else ''}: {_field_path(location)}: {message}")
        raise ConfigError("\n".join(problems)) from None


def load_config(path: str | Path) -> SpeakerConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    return parse_config(text, str(path))
