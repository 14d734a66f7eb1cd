"""The command line's torch thread policy."""

import os

import pytest
import torch

from jetad.cli import main
from jetad.utils._threads import busy_cores, configure_threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_busy_cores_is_within_the_machine():
    assert 0.0 <= busy_cores(0.05) <= (os.cpu_count() or 1) + 1e-9


def test_explicit_thread_count_is_set(restore_threads):
    assert configure_threads(1) == 1 and torch.get_num_threads() == 1


def test_auto_uses_idle_cores_or_keeps_the_environment(monkeypatch, restore_threads):
    import jetad.utils._threads as threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(threads, "busy_cores", lambda: 2.8)
    assert configure_threads("auto") == 1
    monkeypatch.setattr(threads, "busy_cores", lambda: 0.2)
    assert configure_threads("auto") == 4
    monkeypatch.setattr(threads, "busy_cores", lambda: 9.0)
    assert configure_threads("auto") == 1  # never zero
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert configure_threads("auto") == 1  # the caller's setting is left alone


@pytest.mark.parametrize("bad", [0, -2, 1.5, "two", True])
def test_bad_thread_counts_raise(bad):
    with pytest.raises(ValueError, match="threads"):
        configure_threads(bad)


def test_cli_refuses_a_bad_threads_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--threads", "0"])
    assert exit_.value.code == 2 and "--threads" in capsys.readouterr().err
