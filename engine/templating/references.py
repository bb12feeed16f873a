"""Static analysis of templates: which variables a template reads, and unsafe accesses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes

TEMPLATE_MARKERS = ("{{", "{%", "{#")


def is_template(value: object) -> bool:
    """Whether ``value`` is a string containing template syntax."""
    return isinstance(value, str) and any(marker in value for marker in TEMPLATE_MARKERS)


def unsafe_accesses(tree: nodes.Node) -> list[str]:
    """Attribute or key names starting with ``_`` read anywhere in a parsed template
    (``''.__class__``, ``x['__dict__']``, ``x | attr('_y')``)."""
    found: list[str] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr):
            name: object = node.attr
        elif isinstance(node, nodes.Getitem):
            name = node.arg.value if isinstance(node.arg, nodes.Const) else None
        else:
            name = node.args[0].value if _is_attr_filter(node) else None  # type: ignore[attr-defined]
        if isinstance(name, str) and name.startswith("_"):
            found.append(name)
    return found


def iter_template_strings(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value that contains template syntax."""
    if isinstance(value, str):
        if is_template(value):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_template_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from iter_template_strings(item)


@dataclass(frozen=True, slots=True)
class Reference:
    """A variable path read by a template: ``steps.prs.output[0]`` → root ``steps``,
    path ``('prs', 'output', 0)``. ``dynamic`` is true when the path continues with a
    computed key the analysis cannot see."""

    root: str
    path: tuple[str | int, ...]
    dynamic: bool = False

    def __str__(self) -> str:
        out = self.root
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out


def _chain(node: nodes.Node) -> tuple[nodes.Node, list[str | int], list[nodes.Node], bool]:
    """Unwind ``a.b['c'][x]`` into its root node, constant keys, computed key nodes, dynamic."""
    keys: list[str | int] = []
    computed: list[nodes.Node] = []
    dynamic = False
    while True:
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str | int):
                keys.append(node.arg.value)
            else:
                keys.clear()
                computed.append(node.arg)
                dynamic = True
            node = node.node
        elif _is_attr_filter(node):
            assert isinstance(node, nodes.Filter)
            assert node.node is not None
            keys.append(str(node.args[0].value))  # type: ignore[attr-defined]
            node = node.node
        else:
            break
    keys.reverse()
    return node, keys, computed, dynamic


def _is_attr_filter(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Filter)
        and node.name == "attr"
        and node.node is not None
        and len(node.args) == 1
        and isinstance(node.args[0], nodes.Const)
    )


def collect_references(node: nodes.Node, local_names: set[str], out: list[Reference]) -> None:
    if isinstance(node, nodes.Getattr | nodes.Getitem) or _is_attr_filter(node):
        root, keys, computed, dynamic = _chain(node)
        if isinstance(root, nodes.Name):
            if root.ctx == "load" and root.name not in local_names:
                out.append(Reference(root.name, tuple(keys), dynamic))
        else:
            collect_references(root, local_names, out)
        for extra in computed:
            collect_references(extra, local_names, out)
        return
    if isinstance(node, nodes.Name):
        if node.ctx == "load" and node.name not in local_names:
            out.append(Reference(node.name, ()))
        return
    for child in node.iter_child_nodes():
        collect_references(child, local_names, out)
