"""What a job prints, made harmless for the terminal it is relayed to.

A job's output is arbitrary text: a stray byte or an escape sequence (clear the
screen, move the cursor, set the window title, OSC 52 clipboard writes) would act
on the user's terminal and could hide or fake other jobs' lines. The relay
therefore shows every control character as an escape (``\\x1b``, ``\\x07``,
``\\x9b``), keeping tabs; the newline ends the line it relays. Two exceptions,
for what a user means by them:

- Colour (SGR sequences, ``ESC [ ... m``) is kept when FISSION's own stdout is a
  terminal, and a reset follows the line so a colour never bleeds into the next
  job's line; otherwise it is escaped like any control character.
- A carriage return inside a line (a progress bar redrawing itself) keeps what
  follows the last one, the state a terminal would end up showing; a CR before
  the newline (CRLF) is dropped.

Bidirectional-override characters (which can make text read differently from
what it is) are escaped too. job.log keeps the raw text. The ``error:`` paragraph
of a failed job escapes them as well, newlines included (:func:`one_line`): the
exception's message comes from the user's code.
"""

from __future__ import annotations

import re
import sys

#: One character to escape: C0 and C1 controls but the tab, DEL, bidirectional overrides.
_CONTROL = "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
_CONTROLS = re.compile(_CONTROL)
#: A colour sequence (group 1), or one character to escape.
_TOKEN = re.compile(f"(\x1b\\[[0-9;:]*m)|{_CONTROL}")
_RESET = "\x1b[0m"
_NAMED = {"\n": "\\n", "\r": "\\r"}


def stdout_is_terminal() -> bool:
    """Whether FISSION's own stdout (not one a prompt has patched) is a terminal."""
    return sys.__stdout__ is not None and sys.__stdout__.isatty()


def visible(line: str, colour: bool) -> str:
    """One relayed line (without its newline), safe to write to a terminal."""
    line = line.rstrip("\r").rpartition("\r")[2]
    coloured = False

    def replace(match: re.Match[str]) -> str:
        nonlocal coloured
        token = match.group()
        if match.group(1) is None:
            return _escaped(token)
        if colour:
            coloured = True
            return token
        return _escaped(token[0]) + token[1:]

    shown = _TOKEN.sub(replace, line)
    return shown + _RESET if coloured else shown


def one_line(text: str) -> str:
    """A user's text (an exception message) as one harmless line: ``\\n`` for a newline."""
    return _CONTROLS.sub(lambda match: _escaped(match.group()), text)


def _escaped(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
