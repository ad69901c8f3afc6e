"""Ctrl-C and SIGTERM at any moment of a run: one line, 130 or 143, no partial file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from thumbsel.errors import Terminated

# From start-up (thumbsel still importing PyAV and Arrow) to the last writes of a pick
# of bikes.mp4. Not earlier than 0.15 s: before the interpreter runs any of thumbsel's
# code, no Python program can handle a signal.
MOMENTS = (0.15, 0.3, 0.8, 1.5, 2.5, 3.5)


def leftovers(outdir: Path) -> list[Path]:
    return sorted(path for path in outdir.rglob("*") if ".part" in path.name)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_at_any_moment_ends_cleanly(
    signum: signal.Signals, bikes: Path, tmp_path: Path
) -> None:
    expected = {signal.SIGINT: 130, signal.SIGTERM: 143}[signum]
    word = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}[signum]
    stopped = 0
    for moment in MOMENTS:
        outdir = tmp_path / f"pick-{moment}"
        run = subprocess.Popen(
            [sys.executable, "-m", "thumbsel", "pick", str(bikes), "-o", str(outdir), "-q"],
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(moment)
        run.send_signal(signum)
        _, stderr = run.communicate(timeout=60)
        assert run.returncode in (0, expected), (moment, run.returncode, stderr)
        if run.returncode == expected:
            stopped += 1
            assert stderr.strip() == f"thumbsel: {word}", (moment, stderr)
        else:
            assert stderr == "", (moment, stderr)
        if outdir.exists():
            assert leftovers(outdir) == [], moment
        index = outdir / "candidates.json"
        if index.exists():  # whatever a reader finds is whole
            for candidate in json.loads(index.read_text()):
                assert (outdir / candidate["image"]).stat().st_size > 0
    assert stopped >= len(MOMENTS) - 2  # most moments land during the run


@pytest.mark.parametrize("stop", ["KeyboardInterrupt", "Terminated"])
def test_a_stop_that_lands_in_a_finaliser_is_not_lost(stop: str) -> None:
    """A signal arriving while a weakref callback runs raised there, where Python prints
    "Exception ignored" and carries on: the run then finished with 0 and a traceback
    on stderr (seen once in 12 signalled picks). It is delivered again instead."""
    script = (
        "import time, weakref\n"
        "from thumbsel import exits\n"
        "from thumbsel.errors import Terminated\n"
        "exits.stop_on_sigterm()\n"
        "class Thing: pass\n"
        "def callback(_):\n"
        f"    raise {stop}()\n"
        "thing = Thing()\n"
        "ref = weakref.ref(thing, callback)\n"
        "try:\n"
        "    del thing\n"
        "    for _ in range(2000):\n"
        "        time.sleep(0.001)\n"
        "    print('lost')\n"
        f"except {stop}:\n"
        "    print('delivered')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "delivered", run
    assert "Exception ignored" not in run.stderr


def test_a_stop_inside_a_failed_import_is_still_a_stop() -> None:
    """pybind11 (dlib) turns a signal during its module's start-up into
    ImportError("initialization failed") raised from it: the stop must win."""
    from thumbsel.errors import Terminated
    from thumbsel.exits import raise_stop_within

    for stop in (Terminated("stopped by signal SIGTERM"), KeyboardInterrupt()):
        try:
            try:
                raise stop
            except BaseException as cause:
                raise ImportError("initialization failed") from cause
        except ImportError as error:
            with pytest.raises(type(stop)):
                raise_stop_within(error)
    raise_stop_within(ImportError("No module named 'dlib'"))  # a plain one is left alone


@pytest.mark.parametrize(
    ("stop", "code", "word"),
    [(KeyboardInterrupt, 130, "interrupted"), (Terminated, 143, "terminated")],
)
def test_a_signal_while_the_arguments_are_read_ends_cleanly(
    stop: type[BaseException],
    code: int,
    word: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The window the moments above once hit (0.8 s, on a fresh clone): the
    command line being parsed, before the run's own handling began."""
    from thumbsel import cli

    def stopped() -> None:
        raise stop()

    monkeypatch.setattr(cli, "_parser", stopped)
    assert cli.main(["pick", "x.mp4"]) == code
    assert capsys.readouterr().err == f"thumbsel: {word}\n"
