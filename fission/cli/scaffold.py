"""Write the scaffolds of ``fission/templates/`` into a new folder.

A scaffold is a folder of ``*.tmpl`` files. Each is read as a ``string.Template``
(``$name`` placeholders, ``$$`` for a dollar sign) and written with the ``.tmpl`` suffix
removed; a leading ``dot-`` becomes ``.`` (``dot-gitignore.tmpl`` -> ``.gitignore``), so
package data never has to carry hidden files. A file that starts with ``#!`` is made
executable (package data does not keep file modes).

A scaffold is written into a temporary sibling folder first and renamed into place at the
end, so a failure never leaves half a project behind and an existing folder is never touched.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from fission.cli.context import CommandError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["create", "render"]

SUFFIX = ".tmpl"
DOT_PREFIX = "dot-"


def _scaffold(kind: str) -> Traversable:
    root = files("fission") / "templates" / kind
    if not root.is_dir():
        raise LookupError(f"no scaffold {kind!r} in fission/templates (broken install?)")
    return root


def _walk(folder: Traversable, rel: tuple[str, ...] = ()) -> Iterator[tuple[Traversable, Path]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            if entry.name != "__pycache__":
                yield from _walk(entry, (*rel, entry.name))
        elif entry.name.endswith(SUFFIX):
            name = entry.name[: -len(SUFFIX)]
            if name.startswith(DOT_PREFIX):
                name = "." + name[len(DOT_PREFIX) :]
            yield entry, Path(*rel, name)


def render(kind: str, dest: Path, **values: str) -> list[Path]:
    """Write scaffold ``kind`` into the folder ``dest`` (created if needed).

    Never overwrites a file; returns the paths written.
    """
    written = []
    for source, rel in _walk(_scaffold(kind)):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text = Template(source.read_text(encoding="utf-8")).substitute(values)
        with open(target, "x", encoding="utf-8", newline="\n") as out:
            out.write(text)
        if text.startswith("#!"):
            target.chmod(target.stat().st_mode | 0o111)
        written.append(target)
    return written


def create(dest: Path, parts: list[tuple[str, str, dict[str, str]]]) -> Path:
    """Make the new folder ``dest`` from ``parts``: (scaffold, subfolder, values) triples.

    CommandError if ``dest`` exists. The folder appears whole or not at all.
    """
    if dest.exists():
        raise CommandError(f"{dest} already exists; not overwriting it")
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.partial"
    tmp.mkdir()
    try:
        for kind, sub, values in parts:
            render(kind, tmp / sub, **values)
        if dest.exists():  # appeared meanwhile
            raise CommandError(f"{dest} already exists; not overwriting it")
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
