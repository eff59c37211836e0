"""YAML/JSON documents -> plain objects, remembering the line of every field.

Errors later name ``file:line``; the line comes from the :class:`SourceMap` built here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from tektite.errors import TektiteError

Path_ = tuple[str | int, ...]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is ~10x faster when present


@dataclass
class SourceMap:
    """Where each field of one document came from."""

    file: str
    doc_line: int = 1
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int:
        """Line of ``path`` or of its closest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.doc_line


@dataclass
class Document:
    obj: dict[str, Any]
    source: SourceMap

    def describe(self) -> str:
        """``Pipeline "build"`` - how errors name this object."""
        kind = self.obj.get("kind", "object")
        meta = self.obj.get("metadata") or {}
        name = meta.get("name") if isinstance(meta, dict) else None
        if not name and isinstance(meta, dict) and meta.get("generateName"):
            name = f"{meta['generateName']}*"
        return f'{kind} "{name}"' if name else str(kind)


class YamlError(TektiteError):
    """The file is not valid YAML/JSON."""


def _walk(node: yaml.Node, data: Any, path: Path_, lines: dict[Path_, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
        for key_node, value_node in node.value:
            key = key_node.value
            if key in data:
                sub = (*path, key)
                lines[sub] = key_node.start_mark.line + 1
                _walk(value_node, data[key], sub, lines)
                lines[sub] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode) and isinstance(data, list):
        for i, (item_node, item) in enumerate(zip(node.value, data, strict=False)):
            _walk(item_node, item, (*path, i), lines)


def load_text(text: str, file: str = "<stdin>") -> list[Document]:
    """Parse a multi-document YAML (or JSON) text into documents with line maps.

    ``kind: List`` documents are flattened into their ``items``. Empty documents are skipped.
    """
    loader = _Loader(text)
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is None:
                continue
            lines: dict[Path_, int] = {}
            _walk(node, data, (), lines)
            src = SourceMap(file=file, doc_line=node.start_mark.line + 1, lines=lines)
            if not isinstance(data, dict):
                raise YamlError(
                    f"a document must be a mapping with apiVersion and kind; found {type(data).__name__}",
                    file=file,
                    line=src.doc_line,
                )
            if data.get("kind") == "List" and isinstance(data.get("items"), list):
                for i, item in enumerate(data["items"]):
                    sub = {p[2:]: ln for p, ln in lines.items() if p[:2] == ("items", i)}
                    docs.append(Document(item, SourceMap(file, lines.get(("items", i), src.doc_line), sub)))
                continue
            docs.append(Document(data, src))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        raise YamlError(f"malformed YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"malformed YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    return docs
