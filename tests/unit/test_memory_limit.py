"""MAX_MEMORY as written in a job class: the sizes accepted, and a clear error otherwise."""

from __future__ import annotations

import pytest

from fission.core.jobs import CSVSinkJob, PythonJob
from fission.core.network import Network
from fission.core.pipes import PicklePipe
from fission.core.sizes import format_size, parse_size
from fission.errors import ConfigError


@pytest.mark.parametrize(("written", "size"), [
    ("512M", 512 << 20), ("2G", 2 << 30), ("1.5GiB", 3 << 29), ("800k", 800 << 10),
    ("512 MB", 512 << 20), (64 << 20, 64 << 20),
])
def test_sizes_count_in_powers_of_1024(written, size):
    assert parse_size(written) == size


def test_sizes_are_shown_in_a_readable_unit():
    assert format_size(512 << 20) == "512 MiB"
    assert format_size(3 << 29) == "1.5 GiB"


def _network(limit):
    hog = type("Hog", (PythonJob,), {"run": lambda self: None, "MAX_MEMORY": limit})
    return Network.from_jobs([hog(outputs=[PicklePipe(1)]),
                              CSVSinkJob(path="x.csv", inputs=[PicklePipe(1)])])


def test_a_network_keeps_a_valid_limit():
    assert _network("2G").jobs[0].memory_limit() == 2 << 30
    assert _network(None).jobs[0].memory_limit() is None


@pytest.mark.parametrize(("limit", "words"), [
    ("lots", ["'lots'", "'512M'"]),
    ("5P", ["'5P'"]),
    (0, ["more than 0"]),
    ("-1G", ["'-1G'"]),
    (True, ["True"]),
    (1.5e9, ["1500000000.0"]),
    ("8M", ["'8M'", "32 MiB"]),
])
def test_a_bad_limit_is_a_config_error_naming_the_job(limit, words):
    with pytest.raises(ConfigError) as caught:
        _network(limit)
    for word in ["Hog.MAX_MEMORY", *words]:
        assert word in str(caught.value)
