"""Identity embeddings made in a child process: the same bits, and a way back when it fails.

dlib holds the GIL while it embeds (about 90 ms a face here), which stalls
the decoding thread of the pass; the command line embeds in one child
process instead (benches/README.md, section 23).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import footage, real_clip
from PIL import Image
from thumbsel.cli import main
from thumbsel.people import identity
from thumbsel.people.faces import detect_faces

PAIR = "headpose-pair.gif"


@pytest.fixture
def chips() -> list[identity.Chip]:
    """The astronaut's face and both faces of the pair's first frame (real faces)."""
    model = identity.identity_model()
    found = []
    pictures = [np.asarray(Image.open(real_clip("skimage/astronaut.png")).convert("RGB"))]
    with Image.open(footage(PAIR)) as gif:
        pictures.append(np.asarray(gif.convert("RGB")))
    for picture in pictures:
        found += [model.chip(picture, face.box) for face in detect_faces(picture)]
    assert len(found) == 3
    return found


@pytest.fixture
def in_a_process() -> Iterator[None]:
    identity.stop_embedding_process()  # each test starts its own child
    identity.embed_in_a_process()
    try:
        yield
    finally:
        identity.embed_in_a_process(False)
        identity.stop_embedding_process()


def children() -> set[int]:
    return {child.pid for child in multiprocessing.active_children() if child.pid is not None}


def test_embeddings_from_the_child_are_the_same_bits(
    chips: list[identity.Chip], in_a_process: None
) -> None:
    model = identity.identity_model()
    here = model.embed(chips)
    before = children()
    there = model.embed_later(chips).result()
    assert children() - before, "no child process embedded them"
    assert there.dtype == np.float32 and there.shape == (3, identity.EMBEDDING_SIZE)
    np.testing.assert_array_equal(here, there)


def test_a_killed_child_is_replaced_by_embedding_here(
    chips: list[identity.Chip], in_a_process: None
) -> None:
    model = identity.identity_model()
    expected = model.embed(chips)
    before = children()
    model.embed_later(chips[:1]).result()  # the child is up
    started = children() - before
    assert len(started) == 1
    for pid in started:  # only ours: other tests may have children of their own
        os.kill(pid, signal.SIGKILL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vectors = model.embed_later(chips).result()
    np.testing.assert_array_equal(vectors, expected)
    assert any("embedding process failed" in str(w.message) for w in caught)
    # From then on, embeddings are made here, without another child.
    before = children()
    np.testing.assert_array_equal(model.embed_later(chips).result(), expected)
    assert children() <= before


def _embed_in_a_daemon(chips: list[identity.Chip], results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    identity.embed_in_a_process()
    results.put(identity.identity_model().embed_later(chips).result())


def test_a_daemonic_process_embeds_itself(chips: list[identity.Chip]) -> None:
    # A Dask worker is daemonic, and a daemonic process may not have children.
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    worker = context.Process(target=_embed_in_a_daemon, args=(chips, results), daemon=True)
    worker.start()
    vectors = results.get(timeout=120)
    worker.join(timeout=60)
    assert worker.exitcode == 0
    np.testing.assert_array_equal(vectors, identity.identity_model().embed(chips))


def test_the_command_embeds_in_a_child_with_the_same_results(tmp_path: Path) -> None:
    # The command line embeds in a child; main() called in-process does not.
    command = [sys.executable, "-m", "thumbsel", "pick", str(footage(PAIR)), "-k", "2", "-q"]
    run = subprocess.run(
        [*command, "-o", str(tmp_path / "command")], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert main(["pick", str(footage(PAIR)), "-k", "2", "-q", "-o", str(tmp_path / "here")]) == 0
    there = pq.read_table(tmp_path / "command" / "faces.parquet")
    here = pq.read_table(tmp_path / "here" / "faces.parquet")
    assert there.num_rows == here.num_rows > 0
    assert sum(v is not None for v in there.column("embedding").to_pylist()) >= 2
    assert there.equals(here)
    assert (tmp_path / "command" / "characters.json").read_text() == (
        tmp_path / "here" / "characters.json"
    ).read_text()
