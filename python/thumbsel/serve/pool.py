"""The candidates the service chooses from: per title, its picked stills and their tags.

Loaded once at start from a catalog's ``candidates.parquet`` (``thumbsel
catalog``) or from a folder holding one ``thumbsel pick`` output folder per
title (the folder's name is the title id). A candidate's id is
``frame-<N>``, its frame in the title: stable across re-picks of the same
file, and the same in either source.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from thumbsel.errors import PersonalizeError
from thumbsel.personalize.features import attributes_from_tags

__all__ = ["Candidate", "CandidatePool", "load_pool"]


@dataclass(frozen=True)
class Candidate:
    candidate_id: str
    image: str
    """The still, relative to the catalog root (or to the folder of titles)."""
    tags: tuple[str, ...]
    attributes: Mapping[str, float]


@dataclass(frozen=True)
class CandidatePool:
    titles: Mapping[str, tuple[Candidate, ...]]
    source: str

    def of(self, title_id: str, subset: Sequence[str] | None = None) -> tuple[Candidate, ...]:
        """A title's candidates (in pick order), or the ``subset`` of them named by id."""
        candidates = self.titles.get(title_id)
        if candidates is None:
            raise KeyError(title_id)
        if subset is None:
            return candidates
        by_id = {c.candidate_id: c for c in candidates}
        unknown = [c for c in subset if c not in by_id]
        if unknown:
            raise PersonalizeError(
                f"title {title_id!r} has no candidate {unknown[0]!r} "
                f"(its candidates: {', '.join(by_id)})"
            )
        if len(set(subset)) != len(subset):
            raise PersonalizeError("a candidate is named twice")
        if not subset:
            raise PersonalizeError("the candidate subset is empty")
        return tuple(by_id[c] for c in subset)

    @property
    def size(self) -> int:
        return sum(len(c) for c in self.titles.values())


def load_pool(
    *, catalog: str | os.PathLike[str] | None = None, folders: str | os.PathLike[str] | None = None
) -> CandidatePool:
    """The pool of a catalog root, or of a folder of ``thumbsel pick`` outputs."""
    if (catalog is None) == (folders is None):
        raise PersonalizeError("give either a catalog or a folder of picks")
    titles: dict[str, list[Candidate]] = {}
    if catalog is not None:
        path = Path(catalog) / "candidates.parquet"
        try:
            table = pq.read_table(path, columns=["title_id", "rank", "frame", "tags", "image"])
        except FileNotFoundError:
            raise PersonalizeError(f"{path}: no such file (not a catalog's output root?)") from None
        except (OSError, pa.ArrowException, KeyError) as error:
            raise PersonalizeError(f"{path}: not a catalog's candidates table ({error})") from None
        rows = sorted(table.to_pylist(), key=lambda r: (r["title_id"], r["rank"]))
        for row in rows:
            titles.setdefault(row["title_id"], []).append(_candidate(row, row["image"]))
        source = str(path)
    else:
        root = Path(folders)  # type: ignore[arg-type]
        if not root.is_dir():
            raise PersonalizeError(f"{root}: no such folder")
        for folder in sorted(p for p in root.iterdir() if (p / "candidates.json").is_file()):
            try:
                document = json.loads((folder / "candidates.json").read_text(encoding="utf-8"))
                items = sorted(document, key=lambda item: item["rank"])
                titles[folder.name] = [
                    _candidate(item, f"{folder.name}/{item['image']}") for item in items
                ]
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise PersonalizeError(
                    f"{folder / 'candidates.json'}: not a pick's candidates ({error})"
                ) from None
        source = str(root)
    if not titles:
        raise PersonalizeError(f"{source}: no title has candidates")
    return CandidatePool({t: tuple(c) for t, c in titles.items()}, source)


def _candidate(row: Mapping[str, object], image: str) -> Candidate:
    tags = tuple(str(t) for t in row["tags"])  # type: ignore[attr-defined]
    return Candidate(f"frame-{int(row['frame'])}", image, tags, attributes_from_tags(tags))  # type: ignore[call-overload]
