"""Telling whether the process that owns a run is gone (so its runs can be taken over)."""

from __future__ import annotations

import os
import socket
import subprocess
import time

from knowledge.durable.runner import owner_is_dead, process_owner


def _owner_of(pid: int, start: str) -> str:
    return f"{socket.gethostname()}:{pid}:{start}"


def test_this_process_is_alive():
    assert not owner_is_dead(process_owner())


def test_a_killed_process_is_dead_even_before_it_is_reaped():
    child = subprocess.Popen(["sleep", "30"])
    try:
        owner = _owner_of(child.pid, "?")  # no start time known: the pid decides
        assert not owner_is_dead(owner)
        child.kill()
        deadline = time.monotonic() + 5
        while not owner_is_dead(owner):  # a zombie until wait() reaps it
            assert time.monotonic() < deadline, "a killed, unreaped child still counts as alive"
            time.sleep(0.01)
    finally:
        child.kill()
        child.wait()
    assert owner_is_dead(owner)


def test_a_reused_pid_is_told_apart_by_its_start_time():
    assert owner_is_dead(_owner_of(os.getpid(), "1"))  # this pid, but started at another time


def test_another_host_is_never_judged_from_here():
    assert not owner_is_dead("some-other-host:1:1")
    assert owner_is_dead(None)
