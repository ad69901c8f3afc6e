"""Names for characters: from reference photos of the talent, or from another title.

``--cast DIR`` holds one folder per person (``DIR/<name>/*.jpg``, any number
of photos); each photo's largest face is embedded and a person is the mean
of their photos. ``--series-cast characters.json`` is what an earlier
episode's ``pick`` wrote: its characters keep their ids (and names) here.
A character takes the nearest reference closer than the cast distance; each
reference names at most one character, nearest first.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from thumbsel.cast.characters import Cast, Character
from thumbsel.errors import ThumbselError
from thumbsel.people.faces import detect_faces
from thumbsel.people.identity import EMBEDDING_SIZE, identity_model

__all__ = ["load_series_cast", "name_from_gallery", "name_from_series"]

_PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
MAX_GALLERY_PHOTOS = 2000
_MAX_PHOTO_PIXELS = 50_000_000
_NAME_LENGTH = 100
_MAX_SERIES_BYTES = 64 << 20
"""A characters.json holds about 3 kB per character: this is tens of thousands."""
_NAME_RULE = f"1..{_NAME_LENGTH} characters without spaces or colons"

_ID = re.compile(r"c[1-9][0-9]{0,5}")
"""Character ids name files (``characters/c1.jpg``): nothing else is taken from a file."""

Reference = tuple[str, str | None, npt.NDArray[np.float32]]
"""(id or name, name, embedding)."""


def _valid_name(name: str) -> bool:
    return 0 < len(name) <= _NAME_LENGTH and not any(c.isspace() or c == ":" for c in name)


def _gallery(directory: Path) -> list[Reference]:
    if not directory.is_dir():
        raise ThumbselError(f"{directory}: the cast gallery must be a folder of folders")
    people = sorted(p for p in directory.iterdir() if p.is_dir())
    if not people:
        raise ThumbselError(f"{directory}: no person folders (expected {directory}/<name>/*.jpg)")
    photos_seen = 0
    references: list[Reference] = []
    model = identity_model()
    for person in people:
        name = person.name
        if not _valid_name(name):
            raise ThumbselError(f"{person}: a cast name must be {_NAME_RULE}")
        vectors = []
        for photo in sorted(p for p in person.iterdir() if p.suffix.lower() in _PHOTO_SUFFIXES):
            photos_seen += 1
            if photos_seen > MAX_GALLERY_PHOTOS:
                raise ThumbselError(f"{directory}: more than {MAX_GALLERY_PHOTOS} photos")
            picture = _read_photo(photo)
            faces = detect_faces(picture)
            if not faces:
                continue
            vectors.append(model.embed([model.chip(picture, faces[0].box)])[0])
        if not vectors:
            raise ThumbselError(f"{person}: no face found in its photos")
        references.append((name, name, np.mean(vectors, axis=0).astype(np.float32)))
    return references


def _read_photo(path: Path) -> npt.NDArray[np.uint8]:
    try:
        with Image.open(path) as image:
            if image.width * image.height > _MAX_PHOTO_PIXELS:
                raise ThumbselError(f"{path}: larger than {_MAX_PHOTO_PIXELS:,} pixels")
            return np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as error:
        raise ThumbselError(f"{path}: not a readable photo ({error})") from None


def load_series_cast(path: Path) -> list[Reference]:
    """The characters (id, name, embedding) of another title's ``characters.json``."""
    try:
        if path.stat().st_size > _MAX_SERIES_BYTES:
            raise ValueError(f"larger than {_MAX_SERIES_BYTES >> 20} MiB")
        document = json.loads(path.read_text(encoding="utf-8"))
        references = []
        for entry in document["characters"]:
            vector = np.asarray(entry["embedding"], np.float32)
            if vector.shape != (EMBEDDING_SIZE,) or not np.isfinite(vector).all():
                raise ValueError("an embedding is not 128 finite numbers")
            key, name = str(entry["id"]), entry.get("name")
            if not _ID.fullmatch(key):
                raise ValueError(f"a character id must be c1, c2, ..., not {key!r}")
            if name is not None and not _valid_name(str(name)):
                raise ValueError(f"a character name must be {_NAME_RULE}")
            references.append((key, str(name) if name else None, vector))
    except FileNotFoundError:
        raise ThumbselError(f"{path}: no such file") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ThumbselError(
            f"{path}: not a characters.json with embeddings ({error}); "
            "it must come from a pick run without --no-embeddings"
        ) from None
    return references


def _match(cast: Cast, references: list[Reference], *, keep_ids: bool) -> Cast:
    pairs = sorted(
        (float(np.linalg.norm(character.embedding - vector)), c, r)
        for c, character in enumerate(cast.characters)
        for r, (_, _, vector) in enumerate(references)
    )
    taken_characters: set[int] = set()
    taken_references: set[int] = set()
    renamed = list(cast.characters)
    for distance, c, r in pairs:
        if distance >= cast.options.distance or not math.isfinite(distance):
            break
        if c in taken_characters or r in taken_references:
            continue
        taken_characters.add(c)
        taken_references.add(r)
        key, name, _ = references[r]
        changes: dict[str, object] = {"name": name}
        if keep_ids:
            changes["id"] = key
        renamed[c] = dataclasses.replace(renamed[c], **changes)  # type: ignore[arg-type]
    if keep_ids:
        # New characters must not reuse an id of the series.
        used = {key for key, _, _ in references}
        number = 1
        for c in range(len(renamed)):
            if c in taken_characters:
                continue
            while f"c{number}" in used:
                number += 1
            used.add(f"c{number}")
            renamed[c] = dataclasses.replace(renamed[c], id=f"c{number}")
    return _relabel(cast, renamed)


def _relabel(cast: Cast, characters: list[Character]) -> Cast:
    old_to_new = {
        old.label: new.label for old, new in zip(cast.characters, characters, strict=True)
    }
    return dataclasses.replace(
        cast,
        characters=tuple(characters),
        character_of_sighting=tuple(
            None if label is None else old_to_new[label] for label in cast.character_of_sighting
        ),
    )


def name_from_gallery(cast: Cast, directory: Path) -> Cast:
    """``cast`` with the characters that match a person of the gallery named after them."""
    return _match(cast, _gallery(directory), keep_ids=False)


def name_from_series(cast: Cast, references: list[Reference]) -> Cast:
    """``cast`` with the ids (and names) of the matching characters of another title."""
    return _match(cast, references, keep_ids=True)
