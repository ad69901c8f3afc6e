"""A test "title" cut from real footage, with known identities on every shot.

:func:`build_cast_episode` edits shots of the real clips and stills into one
640x360, 25 fps H.264 file with hard cuts (about 37 s, 19 shots of 1.5-3 s), for
face clustering ("who is who across a title"). The truth per shot is planned
first, from the identities annotated by eye in ``tests/data/identities.json``:
who is on screen, and where their face is in the composed frame on some frames.

The cast:

* ``headpose_woman`` and ``headpose_man`` (``headpose-pair.gif``): the pair in the
  original framing, and each of them alone in close-ups and medium shots cut
  out of it (one of the woman's is mirrored, so she looks the other way);
* ``carphone_man`` (``carphone_pristine.mp4``, upscaled: cropped to 16:9,
  pillarboxed, and a tight crop played backwards);
* ``astronaut`` (the skimage photograph): two slow "Ken Burns" moves over the
  still, and once as a small framed picture on a screen over a Big Buck Bunny
  background (that appearance has ``on_screen=True``);
* ``chaplin_tramp`` and ``chaplin_policeman`` (``chaplin-bw.mp4``, pillarboxed
  as it is, and a 2x punch-in);
* ``extra_black_tshirt`` (``one-by-one.mp4``): an extra seen from behind, face
  not visible (``role == "extra"``);
* nobody: Big Buck Bunny, and a Ken Burns move over the cat photograph.

Traps for a clusterer: the woman is always in three-quarter view and the man
near frontal (headpose-pair has no profile); the tramp is frontal in the first
Chaplin shot and mostly in profile in the last; the mirrored woman; the face on
a screen; a person whose face never shows; shots with nobody.

Conventions:

* Frames are decoded-frame indices of the episode from 0. ``end_frame`` is
  exclusive. Every cut is a hard cut at ``start_frame`` of a shot.
* A shot's ``identities`` are the people on screen for the whole shot (faces
  visible or not, faces on a screen included); its ``appearances`` say how.
* An :class:`Appearance` has :class:`Sighting` s: the face (or, for
  ``view == "back"``, the back of the head) at some frames of the shot, as a box
  in episode pixels. They are the annotated source boxes carried through the
  shot's crop and zoom, so they are as good as the annotation (the detector's
  own box where ``detected``, a box placed by eye otherwise: about 5 source
  pixels, times the shot's zoom). ``detected`` says whether
  ``thumbsel.people.detect_faces`` finds that face on the source frame; the
  tests check that it still finds it in the episode.
* Frame rates: the GIF (12.5 fps) shows each frame twice, one-by-one.mp4 (10
  fps) 2.5 times; carphone (29.97 fps) is played frame for frame, so 17 %
  slower than real time; Chaplin is 25 fps already.

Everything is deterministic. ``seed=0`` gives the order below; another seed
shuffles the shots (no two neighbours from the same clip). The file is cached
under a hash of the parameters, like ``tests/episodes.py``.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageDraw, ImageOps
from videos import write_video

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = Path(os.environ.get("THUMBSEL_TEST_DATA", ROOT / ".cache" / "test-data"))
FOOTAGE = Path(os.environ.get("THUMBSEL_FOOTAGE", ROOT.parent / "shared" / "footage"))
IDENTITIES = Path(__file__).resolve().parent / "data" / "identities.json"

FPS = 25
WIDTH = 640
HEIGHT = 360
LAYOUT_VERSION = 1
"""Bump when the layout or the rendering changes, so cached episodes are rebuilt."""
ENCODER_OPTIONS = {"crf": "20", "preset": "veryfast", "g": "50", "threads": "1"}

MAX_SIGHTINGS = 6
"""Sightings kept per appearance (evenly spread over the shot, first and last included)."""
MIN_VISIBLE = 0.5
"""A face counts as in the picture when this share of its box is inside the crop."""
EXTRA_PREFIX = "extra_"
"""Identities named ``extra_...`` are extras (``role == "extra"``), the rest cast."""

Box = tuple[int, int, int, int]
Window = tuple[float, float, float, float]
Frame = npt.NDArray[np.uint8]

FULL: Box = (0, 0, WIDTH, HEIGHT)

SOURCES: dict[str, Path] = {
    "footage/headpose-pair.gif": FOOTAGE / "headpose-pair.gif",
    "footage/chaplin-bw.mp4": FOOTAGE / "chaplin-bw.mp4",
    "footage/one-by-one.mp4": FOOTAGE / "one-by-one.mp4",
    "test-data/carphone_pristine.mp4": TEST_DATA / "carphone_pristine.mp4",
    "test-data/bigbuckbunny.mp4": TEST_DATA / "bigbuckbunny.mp4",
    "skimage/astronaut.png": TEST_DATA / "skimage" / "astronaut.png",
    "skimage/chelsea.png": TEST_DATA / "skimage" / "chelsea.png",
}
"""The material, by the source names of ``identities.json``."""

STILLS = frozenset(name for name in SOURCES if name.endswith(".png"))


# --- the truth ------------------------------------------------------------------


@dataclass(frozen=True)
class Sighting:
    """Where one appearance's face (or head) is on one episode frame."""

    frame: int
    box: Box
    """``(x0, y0, x1, y1)`` in episode pixels, ``x1``/``y1`` exclusive."""
    detected: bool
    """The detector finds this face on the source frame (annotated in identities.json)."""
    view: str = "face"
    """``"face"`` (frontal to profile) or ``"back"`` (back of the head: no face to find)."""


@dataclass(frozen=True)
class Appearance:
    """One identity on screen in one shot."""

    identity: str
    sightings: tuple[Sighting, ...]
    on_screen: bool = False
    """The face is a picture on a screen or poster inside the shot, not the person."""
    role: str = "cast"
    """``"cast"`` or ``"extra"``."""

    @property
    def box(self) -> Box:
        """The approximate box in the middle of the shot (the middle sighting)."""
        return self.sightings[len(self.sightings) // 2].box

    @property
    def detectable(self) -> bool:
        """The detector finds this face on at least one sighting."""
        return any(sighting.detected for sighting in self.sightings)

    def box_at(self, frame: int) -> Box:
        """The box of the sighting nearest to ``frame`` (approximate between sightings)."""
        return min(self.sightings, key=lambda s: (abs(s.frame - frame), s.frame)).box


@dataclass(frozen=True)
class Shot:
    """One shot of the episode and who is on screen in it."""

    index: int
    name: str
    start_frame: int
    end_frame: int
    """Exclusive."""
    source: str
    """The clip or still the shot's picture comes from (its background for a screen shot)."""
    source_frames: tuple[int, ...]
    """The source frame shown on each episode frame of the shot (0 for stills)."""
    kind: str
    """``"pair"``, ``"single"``, ``"still"`` (Ken Burns over a photo of a person),
    ``"screen"`` (a face on a screen), ``"extras"`` or ``"empty"``."""
    framing: str
    appearances: tuple[Appearance, ...]
    mirrored: bool = False
    note: str = ""

    @property
    def identities(self) -> tuple[str, ...]:
        """The identities on screen during the whole shot."""
        return tuple(appearance.identity for appearance in self.appearances)

    @property
    def frame_count(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def seconds(self) -> float:
        return self.frame_count / FPS

    def appearance(self, identity: str) -> Appearance:
        for appearance in self.appearances:
            if appearance.identity == identity:
                return appearance
        raise KeyError(f"{identity} is not in shot {self.index} ({self.name})")


@dataclass(frozen=True, eq=False)
class CastEpisode:
    """An encoded episode and who is on screen when."""

    path: Path
    fps: float
    width: int
    height: int
    frame_count: int
    shots: tuple[Shot, ...]
    seed: int = 0

    @property
    def cuts(self) -> list[int]:
        """First frame of every shot after the first (all hard cuts)."""
        return [shot.start_frame for shot in self.shots[1:]]

    def shot_at(self, frame: int) -> Shot:
        if not 0 <= frame < self.frame_count:
            raise IndexError(f"frame {frame} is outside 0..{self.frame_count - 1}")
        starts = [shot.start_frame for shot in self.shots]
        return self.shots[bisect.bisect_right(starts, frame) - 1]

    def identity_at(self, frame: int, *, extras: bool = True, screens: bool = True) -> list[str]:
        """Identities on screen on ``frame``; ``extras``/``screens`` False leave out extras
        and faces shown on a screen."""
        return [
            appearance.identity
            for appearance in self.shot_at(frame).appearances
            if (extras or appearance.role != "extra") and (screens or not appearance.on_screen)
        ]

    def shots_of(self, identity: str, *, screens: bool = True) -> list[int]:
        """Indices of the shots where ``identity`` is on screen."""
        return [
            shot.index
            for shot in self.shots
            if any(
                a.identity == identity and (screens or not a.on_screen) for a in shot.appearances
            )
        ]

    def screen_seconds(self, identity: str, *, screens: bool = True) -> float:
        """Seconds of the shots where ``identity`` is on screen."""
        frames = sum(self.shots[i].frame_count for i in self.shots_of(identity, screens=screens))
        return frames / self.fps

    def identities(self, *, extras: bool = True) -> list[str]:
        """Every identity on screen somewhere, sorted."""
        return sorted(
            {
                appearance.identity
                for shot in self.shots
                for appearance in shot.appearances
                if extras or appearance.role != "extra"
            }
        )


# --- the layout -----------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    """One picture of a shot: a source window scaled into a place of the frame."""

    source: str
    frames: tuple[int, ...]
    """Source frame per episode frame of the shot."""
    window: tuple[Window, Window]
    """Source crop at the first and at the last frame (linear in between: Ken Burns)."""
    place: Box = FULL
    mirrored: bool = False
    bezel: int = 0
    """Width of a dark frame around ``place`` (a screen)."""
    on_screen: bool = False


@dataclass(frozen=True)
class _Spec:
    name: str
    kind: str
    framing: str
    layers: tuple[_Layer, ...]
    note: str = ""


def _static(window: Window) -> tuple[Window, Window]:
    return (window, window)


def _gif(first: int, last: int) -> tuple[int, ...]:
    """GIF frames first..last at 12.5 fps, each shown twice at 25 fps."""
    return tuple(frame for frame in range(first, last + 1) for _ in range(2))


def _ten_fps(first: int, count: int) -> tuple[int, ...]:
    """``count`` episode frames of a 10 fps clip from ``first`` on."""
    return tuple(first + k * 10 // FPS for k in range(count))


def _span(first: int, last: int) -> tuple[int, ...]:
    """Source frames first..last inclusive, one per episode frame (reversed if last < first)."""
    step = 1 if last >= first else -1
    return tuple(range(first, last + step, step))


HEADPOSE = "footage/headpose-pair.gif"
CHAPLIN = "footage/chaplin-bw.mp4"
ONE_BY_ONE = "footage/one-by-one.mp4"
CARPHONE = "test-data/carphone_pristine.mp4"
BUNNY = "test-data/bigbuckbunny.mp4"
ASTRONAUT = "skimage/astronaut.png"
CAT = "skimage/chelsea.png"

_PAIR: Window = (0, 0, 480, 270)
_WOMAN_CLOSE: Window = (0, 58, 192, 166)
_WOMAN_MEDIUM: Window = (0, 40, 240, 175)
_MAN_CLOSE: Window = (258, 45, 450, 153)
_MAN_MEDIUM: Window = (240, 30, 480, 165)
_CHAPLIN_FULL: Window = (0, 0, 640, 360)
_CHAPLIN_ZOOM: Window = (112, 16, 432, 196)
_CARPHONE_16X9: Window = (0, 22, 176, 121)
_CARPHONE_TIGHT: Window = (16, 22, 160, 103)
_CARPHONE_FULL: Window = (0, 0, 176, 144)
_PILLARBOX: Box = (100, 0, 540, 360)
_SCREEN: Box = (420, 50, 600, 230)
"""Where the astronaut's picture hangs over the bunny background (a 180 px square)."""


def _stills(count: int) -> tuple[int, ...]:
    return (0,) * count


_LAYOUT: tuple[_Spec, ...] = (
    _Spec("pair_open", "pair", "wide", (_Layer(HEADPOSE, _gif(0, 27), _static(_PAIR)),)),
    _Spec(
        "carphone_crop",
        "single",
        "medium close-up, cropped to 16:9",
        (_Layer(CARPHONE, _span(0, 47), _static(_CARPHONE_16X9)),),
    ),
    _Spec(
        "woman_close",
        "single",
        "close-up",
        (_Layer(HEADPOSE, _gif(0, 19), _static(_WOMAN_CLOSE)),),
        "she turns her head and tilts it onto her shoulder",
    ),
    _Spec(
        "chaplin_wide_a",
        "pair",
        "wide, pillarboxed",
        (_Layer(CHAPLIN, _span(79, 130), _static(_CHAPLIN_FULL)),),
        "the tramp faces the camera; the policeman has his back to it",
    ),
    _Spec(
        "man_close",
        "single",
        "close-up",
        (_Layer(HEADPOSE, _gif(0, 21), _static(_MAN_CLOSE)),),
        "he tilts his head while talking",
    ),
    _Spec(
        "astronaut_zoom",
        "still",
        "Ken Burns zoom-in",
        (_Layer(ASTRONAUT, _stills(60), ((0, 40, 512, 328), (66, 37, 386, 217))),),
    ),
    _Spec(
        "extras",
        "extras",
        "wide, high angle",
        (_Layer(ONE_BY_ONE, _ten_fps(842, 50), _static((0, 0, 768, 432))),),
        "an extra at a table, seen from behind, walks out of the picture; no face shows",
    ),
    _Spec(
        "woman_medium",
        "single",
        "medium close-up",
        (_Layer(HEADPOSE, _gif(28, 55), _static(_WOMAN_MEDIUM)),),
        "head held tilted",
    ),
    _Spec(
        "bunny_empty",
        "empty",
        "wide, cartoon",
        (_Layer(BUNNY, _span(0, 49), _static((0, 0, 1280, 720))),),
    ),
    _Spec(
        "man_medium",
        "single",
        "medium close-up",
        (_Layer(HEADPOSE, _gif(24, 55), _static(_MAN_MEDIUM)),),
    ),
    _Spec(
        "carphone_pillarbox",
        "single",
        "medium shot, pillarboxed 4:3",
        (_Layer(CARPHONE, _span(48, 87), _static(_CARPHONE_FULL), place=_PILLARBOX),),
    ),
    _Spec(
        "astronaut_on_screen",
        "screen",
        "a framed photograph on a screen over a cartoon background",
        (
            _Layer(BUNNY, _span(80, 129), _static((0, 0, 1280, 720))),
            _Layer(
                ASTRONAUT,
                _stills(50),
                _static((0, 0, 512, 512)),
                place=_SCREEN,
                bezel=8,
                on_screen=True,
            ),
        ),
        "the astronaut's face is about 35 px high, in a picture, not a person in the scene",
    ),
    _Spec(
        "chaplin_zoom_b",
        "pair",
        "2x punch-in",
        (_Layer(CHAPLIN, _span(158, 203), _static(_CHAPLIN_ZOOM)),),
        "both face the camera; the detector finds the tramp only (the policeman's eyes are "
        "shaded by his hat)",
    ),
    _Spec(
        "woman_mirrored",
        "single",
        "medium close-up, mirrored",
        (_Layer(HEADPOSE, _gif(12, 35), _static(_WOMAN_MEDIUM), mirrored=True),),
        "flopped: she looks the other way",
    ),
    _Spec(
        "cat_still",
        "empty",
        "Ken Burns zoom-in over a photo of a cat",
        (_Layer(CAT, _stills(45), ((0, 20, 451, 274), (100, 60, 340, 195))),),
    ),
    _Spec(
        "carphone_tight_reverse",
        "single",
        "close-up, played backwards",
        (_Layer(CARPHONE, _span(119, 80), _static(_CARPHONE_TIGHT)),),
        "head tilted, mouth wide open",
    ),
    _Spec(
        "astronaut_pan",
        "still",
        "Ken Burns pan and tilt",
        (_Layer(ASTRONAUT, _stills(45), ((30, 40, 430, 265), (90, 0, 490, 225))),),
    ),
    _Spec(
        "chaplin_wide_c",
        "pair",
        "wide, pillarboxed",
        (_Layer(CHAPLIN, _span(201, 240), _static(_CHAPLIN_FULL)),),
        "the tramp in a false beard turns into profile (detected on 201-207 only); the detector "
        "finds the policeman on 210-211 only",
    ),
    _Spec("pair_end", "pair", "wide", (_Layer(HEADPOSE, _gif(30, 55), _static(_PAIR)),)),
)


# --- annotations ------------------------------------------------------------------


@dataclass(frozen=True)
class _Mark:
    identity: str
    box: Box
    view: str
    detected: bool


@cache
def load_identities() -> dict[str, Any]:
    """``tests/data/identities.json`` as parsed JSON."""
    with IDENTITIES.open(encoding="utf-8") as file:
        data: dict[str, Any] = json.load(file)
    return data


def source_marks(source: str) -> dict[int, tuple[_Mark, ...]]:
    """The annotated people of one source, by source frame."""
    entry = load_identities()["sources"].get(source, {})
    marks: dict[int, tuple[_Mark, ...]] = {}
    for row in entry.get("frames", []):
        frame = int(row["frame"])
        if "people" in row:
            found = [
                _Mark(p["identity"], _box(p["box"]), p["view"], bool(p["detected"]))
                for p in row["people"]
            ]
        else:  # {"frame": i, identity: box, ...}: detector boxes of visible faces
            found = [
                _Mark(key, _box(value), "face", True)
                for key, value in row.items()
                if key != "frame"
            ]
        marks[frame] = tuple(found)
    return marks


def _box(values: Sequence[int]) -> Box:
    x0, y0, x1, y1 = (int(v) for v in values)
    return (x0, y0, x1, y1)


def _window_at(layer: _Layer, position: int) -> Window:
    first, last = layer.window
    if first == last or len(layer.frames) < 2:
        return first
    t = position / (len(layer.frames) - 1)
    a = np.asarray(first, np.float64)
    b = np.asarray(last, np.float64)
    x0, y0, x1, y1 = (float(v) for v in a + (b - a) * t)
    return (x0, y0, x1, y1)


def _carry(box: Box, window: Window, place: Box, mirrored: bool) -> Box | None:
    """A source box in episode pixels, or None when less than MIN_VISIBLE of it is inside."""
    wx0, wy0, wx1, wy1 = window
    px0, py0, px1, py1 = place
    sx = (px1 - px0) / (wx1 - wx0)
    sy = (py1 - py0) / (wy1 - wy0)
    x0 = px0 + (box[0] - wx0) * sx
    x1 = px0 + (box[2] - wx0) * sx
    if mirrored:
        x0, x1 = px0 + px1 - x1, px0 + px1 - x0
    y0 = py0 + (box[1] - wy0) * sy
    y1 = py0 + (box[3] - wy0) * sy
    cx0, cy0, cx1, cy1 = max(x0, px0), max(y0, py0), min(x1, px1), min(y1, py1)
    area = (x1 - x0) * (y1 - y0)
    inside = max(0.0, cx1 - cx0) * max(0.0, cy1 - cy0)
    if area <= 0 or inside < MIN_VISIBLE * area:
        return None
    return (round(cx0), round(cy0), round(cx1), round(cy1))


def _thin(items: list[Sighting]) -> tuple[Sighting, ...]:
    if len(items) <= MAX_SIGHTINGS:
        return tuple(items)
    picks = np.linspace(0, len(items) - 1, MAX_SIGHTINGS).round().astype(int)
    return tuple(items[int(i)] for i in sorted(set(picks.tolist())))


def _appearances(spec: _Spec, start: int) -> tuple[Appearance, ...]:
    found: dict[tuple[str, bool], list[Sighting]] = {}
    for layer in spec.layers:
        marks = source_marks(layer.source)
        still = layer.source in STILLS
        shown: set[int] = set()
        for position, frame in enumerate(layer.frames):
            if frame not in marks or (frame in shown and not still):
                continue
            shown.add(frame)
            window = _window_at(layer, position)
            for mark in marks[frame]:
                box = _carry(mark.box, window, layer.place, layer.mirrored)
                if box is None:
                    continue
                sighting = Sighting(start + position, box, mark.detected, mark.view)
                found.setdefault((mark.identity, layer.on_screen), []).append(sighting)
    return tuple(
        Appearance(
            identity,
            _thin(sightings),
            on_screen=on_screen,
            role="extra" if identity.startswith(EXTRA_PREFIX) else "cast",
        )
        for (identity, on_screen), sightings in sorted(found.items())
    )


@dataclass(frozen=True)
class CastPlan:
    """The edit and its truth, without touching a pixel."""

    order: tuple[int, ...]
    """Indices into the layout, in playing order."""
    shots: tuple[Shot, ...]

    @property
    def frame_count(self) -> int:
        return self.shots[-1].end_frame


def _order(seed: int) -> tuple[int, ...]:
    count = len(_LAYOUT)
    if seed == 0:
        return tuple(range(count))
    rng = np.random.default_rng(seed)
    for _ in range(10_000):
        order = tuple(int(i) for i in rng.permutation(count))
        sources = [_LAYOUT[i].layers[0].source for i in order]
        if all(a != b for a, b in itertools.pairwise(sources)):
            return order
    raise AssertionError(f"no order without neighbours from one clip for seed {seed}")


def plan_cast_episode(*, seed: int = 0) -> CastPlan:
    """The shots and their truth for ``seed`` (reads only identities.json)."""
    order = _order(seed)
    shots = []
    start = 0
    for index, layout_index in enumerate(order):
        spec = _LAYOUT[layout_index]
        base = spec.layers[0]
        count = len(base.frames)
        if any(len(layer.frames) != count for layer in spec.layers):
            raise AssertionError(f"{spec.name}: layers of different lengths")
        shots.append(
            Shot(
                index=index,
                name=spec.name,
                start_frame=start,
                end_frame=start + count,
                source=base.source,
                source_frames=base.frames,
                kind=spec.kind,
                framing=spec.framing,
                appearances=_appearances(spec, start),
                mirrored=any(layer.mirrored for layer in spec.layers),
                note=spec.note,
            )
        )
        start += count
    return CastPlan(order=order, shots=tuple(shots))


# --- rendering --------------------------------------------------------------------


def source_paths() -> dict[str, Path]:
    """The material, checked to exist."""
    for name, path in SOURCES.items():
        if not path.exists():
            hint = "run `make test-data`" if name.startswith(("test-data", "skimage")) else ""
            raise FileNotFoundError(f"{path} is missing {hint}".rstrip())
    return dict(SOURCES)


def _load(source: str, frames: set[int]) -> dict[int, PILImage.Image]:
    path = source_paths()[source]
    if source in STILLS:
        with PILImage.open(path) as image:
            return {0: image.convert("RGB")}
    images: dict[int, PILImage.Image] = {}
    last = max(frames)
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in frames:
                images[index] = frame.to_image().convert("RGB")
            if index >= last:
                break
    missing = frames - images.keys()
    if missing:
        raise ValueError(f"{source} has no frames {sorted(missing)[:5]}")
    return images


def _picture(image: PILImage.Image, layer: _Layer, window: Window) -> PILImage.Image:
    x0, y0, x1, y1 = layer.place
    width, height = x1 - x0, y1 - y0
    factor = int(min((window[2] - window[0]) / width, (window[3] - window[1]) / height))
    if factor >= 2:
        # Shrink by a whole factor first (a box filter), then Lanczos: ten times
        # faster for the 1280x720 bunny, and the same pixels on every run.
        image = image.reduce(factor)
        window = (window[0] / factor, window[1] / factor, window[2] / factor, window[3] / factor)
    picture = image.resize((width, height), PILImage.Resampling.LANCZOS, box=window)
    return ImageOps.mirror(picture) if layer.mirrored else picture


def _render_spec(spec: _Spec) -> Iterator[Frame]:
    pictures = [(layer, _load(layer.source, set(layer.frames))) for layer in spec.layers]
    made: dict[tuple[int, int], PILImage.Image] = {}  # static windows: one picture per frame
    for position in range(len(spec.layers[0].frames)):
        canvas = PILImage.new("RGB", (WIDTH, HEIGHT))
        draw = ImageDraw.Draw(canvas)
        for number, (layer, images) in enumerate(pictures):
            x0, y0, x1, y1 = layer.place
            if layer.bezel:
                b = layer.bezel
                draw.rectangle((x0 - b, y0 - b, x1 + b - 1, y1 + b - 1), fill=(28, 28, 30))
            source_frame = layer.frames[position]
            if layer.window[0] == layer.window[1]:
                key = (number, source_frame)
                if key not in made:
                    made[key] = _picture(images[source_frame], layer, layer.window[0])
                picture = made[key]
            else:
                picture = _picture(images[source_frame], layer, _window_at(layer, position))
            canvas.paste(picture, (x0, y0))
        yield np.asarray(canvas)


def render_frames(plan: CastPlan) -> Iterator[Frame]:
    """The episode's pictures, shot by shot (each shot decodes only the frames it needs)."""
    for layout_index in plan.order:
        yield from _render_spec(_LAYOUT[layout_index])


def render_shot(name: str) -> list[Frame]:
    """The pictures of one shot of the layout, by name (for tests)."""
    for spec in _LAYOUT:
        if spec.name == name:
            return list(_render_spec(spec))
    raise KeyError(name)


def _parameters_hash(seed: int) -> str:
    description = {
        "version": LAYOUT_VERSION,
        "size": [WIDTH, HEIGHT],
        "fps": FPS,
        "seed": seed,
        "layout": [asdict(spec) for spec in _LAYOUT],
        "encoder": ENCODER_OPTIONS,
        "sources": {name: path.stat().st_size for name, path in source_paths().items()},
    }
    text = json.dumps(description, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def count_frames(path: Path) -> int:
    """Frames PyAV decodes from ``path``."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def build_cast_episode(directory: Path, *, seed: int = 0) -> CastEpisode:
    """Build the episode in ``directory``, or reuse one built there with the same parameters."""
    plan = plan_cast_episode(seed=seed)
    directory = Path(directory)
    path = directory / f"cast_{WIDTH}x{HEIGHT}_seed{seed}_{_parameters_hash(seed)}.mp4"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.part.mp4")
        try:
            written = write_video(partial, render_frames(plan), fps=FPS, options=ENCODER_OPTIONS)
            decoded = count_frames(partial)
            if written.frame_count != plan.frame_count or decoded != plan.frame_count:
                raise RuntimeError(
                    f"cast episode has {decoded} decodable frames, planned {plan.frame_count}"
                )
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
    return CastEpisode(
        path=path,
        fps=float(FPS),
        width=WIDTH,
        height=HEIGHT,
        frame_count=plan.frame_count,
        shots=plan.shots,
        seed=seed,
    )
