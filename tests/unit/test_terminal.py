"""What the output relay makes of the control characters a job prints."""

from __future__ import annotations

import pytest

from fission.backends.terminal import one_line, visible

NASTY = "a\x1b]0;title\x07b\x1b[2Jc\x08d\x00e\x7ff\x9bg\u202eh"
ESCAPED = "a\\x1b]0;title\\x07b\\x1b[2Jc\\x08d\\x00e\\x7ff\\x9bg\\u202eh"


@pytest.mark.parametrize("colour", [False, True])
def test_control_characters_are_shown_as_escapes_and_tabs_kept(colour):
    assert visible(NASTY, colour) == ESCAPED
    assert visible("name\tvalue", colour) == "name\tvalue"
    assert visible("plain é ✓", colour) == "plain é ✓"


def test_colour_is_kept_for_a_terminal_and_reset_at_the_end_of_the_line():
    assert visible("\x1b[1;31mred\x1b[0m and \x1b[32mgreen", True) == (
        "\x1b[1;31mred\x1b[0m and \x1b[32mgreen\x1b[0m")


def test_colour_is_escaped_when_the_console_is_not_a_terminal():
    assert visible("\x1b[31mred\x1b[0m", False) == "\\x1b[31mred\\x1b[0m"


def test_a_carriage_return_keeps_what_a_terminal_would_show_last():
    assert visible("10%\r50%\r100%", False) == "100%"
    assert visible("windows line\r", False) == "windows line"


def test_one_line_escapes_newlines_and_every_control_character():
    assert one_line("two\nlines\r\x1b[31m\ttab") == "two\\nlines\\r\\x1b[31m\ttab"
