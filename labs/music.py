"""Irish folk tunes in ABC notation: the corpus, tune text, parsing and a piano roll.

The tunes come from the collections that ship inside music21's corpus, so nothing is
downloaded: O'Neill's *Music of Ireland* (1850 tunes edition, 2,009 tunes) and,
optionally, Ryan's Mammoth Collection (1883, about 1,060 fiddle tunes).

ABC notation (https://abcnotation.com/wiki/abc:standard:v2.1) writes a tune as
header fields (``X:`` reference number, ``T:`` title, ``M:`` metre, ``L:`` unit note
length, ``R:`` rhythm, ``Q:`` tempo, ``K:`` key, which ends the header) followed by
the body, one line of bars per line. The collections also carry fields that are not
music (``N:`` notes, ``Z:`` transcriber, ``B:`` book, ``C:``/``S:``/``O:``/``D:``
sources); :func:`load_tunes` drops them so that a model learns the music, not the
transcribers' e-mail addresses.

music21 is imported inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from labs.keys import staff_position

COLLECTIONS = {"oneills1850": "O'Neill's Music of Ireland (1850)", "ryansMammoth": "Ryan's Mammoth Collection (1883)"}
"""music21 corpus folders this module can read, with their full names."""

HEADER_FIELDS_KEPT = ("X", "T", "M", "L", "R", "Q", "K")
"""Header fields that describe the music; every other header field is dropped."""

TUNE_SEPARATOR = "\n\n"
"""Tunes are joined with one blank line, which is also how generated text is split."""

_FIELD_LINE = re.compile(r"^([A-Za-z]):\s*(.*)$")


def _corpus_folder(collection: str) -> Path:
    """Folder of one music21 corpus collection."""
    import music21

    if collection not in COLLECTIONS:
        raise ValueError(f"Unknown collection {collection!r}; use one of {sorted(COLLECTIONS)}.")
    return Path(music21.__file__).parent / "corpus" / collection


def split_abc_file(text: str) -> list[str]:
    """Split the text of an ABC file into raw tunes, each starting with its ``X:`` line.

    Anything before the first ``X:`` line (a file header) is ignored.
    """
    pieces = re.split(r"^(?=X:)", text.replace("\r\n", "\n"), flags=re.MULTILINE)
    return [piece.strip() for piece in pieces if piece.startswith("X:") and piece.strip()]


def clean_tune(raw: str) -> str:
    """Return one tune as compact text: kept header fields, then the body.

    Header lines other than :data:`HEADER_FIELDS_KEPT` are dropped, field lines are
    written without the space after the colon (``X: 1`` becomes ``X:1``), comment
    lines (``%``), blank lines and trailing spaces are removed. The header ends at the
    first ``K:`` line; field lines after it (a key change inside the body) are kept.
    Returns an empty string if the tune has no ``K:`` line or no body.
    """
    header: list[str] = []
    body: list[str] = []
    in_body = False
    for line in raw.splitlines():
        line = line.rstrip()
        if not line.strip() or line.lstrip().startswith("%"):
            continue
        if in_body:
            body.append(line)
            continue
        match = _FIELD_LINE.match(line)
        if match is None:
            continue
        field, value = match.group(1), match.group(2).strip()
        if field in HEADER_FIELDS_KEPT and value:
            header.append(f"{field}:{value}")
        if field == "K":
            in_body = True
    if not in_body or not body:
        return ""
    return "\n".join(header + body)


def load_collection(collection: str) -> list[str]:
    """Load one music21 corpus collection (a key of :data:`COLLECTIONS`), one cleaned tune per entry.

    Tunes come in the collection's file order, each as returned by :func:`clean_tune`;
    entries without a key or a body are left out.
    """
    tunes: list[str] = []
    for path in sorted(_corpus_folder(collection).glob("*.abc")):
        text = path.read_text(encoding="latin-1")
        for raw in split_abc_file(text):
            tune = clean_tune(raw)
            if tune:
                tunes.append(tune)
    return tunes


def load_tunes(include_ryans: bool = False) -> list[str]:
    """Load the tune corpus from music21, one cleaned ABC string per tune.

    Args:
        include_ryans: also add Ryan's Mammoth Collection (about 1,060 more tunes).

    Returns:
        A list of tunes (O'Neill's 2,009 first, in book order, then Ryan's if asked for),
        each as returned by :func:`clean_tune`.
    """
    tunes = load_collection("oneills1850")
    if include_ryans:
        tunes += load_collection("ryansMammoth")
    return tunes


#: Notes per shingle when comparing tunes: eight notes is about one bar of a jig or reel.
SHINGLE_NOTES = 8
#: A tune sharing at least this share of its shingles with one earlier tune is the same tune again.
DUPLICATE_SHARE = 0.8
#: A held-out tune may share less than this share of its shingles with any one training tune.
HELD_OUT_MAX_SHARE = 0.5

_BODY_NOISE = re.compile(r'"[^"]*"|![^!]*!|\+[^+\s]*\+|\[[A-Za-z]:[^\]]*\]|%.*$', re.MULTILINE)
_NOTE = re.compile(r"(\^{1,2}|_{1,2}|=)?([A-Ga-g])([,']*)")


def tune_header(tune: str, field: str) -> str:
    """The first value of header ``field`` (one letter, e.g. ``"X"``) in ``tune``, or ``""``."""
    for line in tune.splitlines():
        if line.startswith(f"{field}:"):
            return line[2:].strip()
        if line.startswith("K:"):
            break
    return ""


def note_names(tune: str) -> list[str]:
    """The notes of a tune's body as written (accidental, letter, octave marks), durations and chords left out."""
    lines = tune.splitlines()
    body_start = next((index + 1 for index, line in enumerate(lines) if line.startswith("K:")), 0)
    body = _BODY_NOISE.sub(" ", "\n".join(lines[body_start:]))
    return [match.group(0) for match in _NOTE.finditer(body)]


def note_shingles(tune: str, size: int = SHINGLE_NOTES) -> set[tuple[str, ...]]:
    """Every run of ``size`` consecutive notes in the tune, as a set of tuples."""
    notes = note_names(tune)
    return {tuple(notes[start:start + size]) for start in range(len(notes) - size + 1)}


def melody_shingles(tune: str, size: int = SHINGLE_NOTES) -> set[tuple[int, ...]]:
    """Every run of ``size`` consecutive notes as the ``size - 1`` steps between them, in staff lines and spaces.

    A step counts letters (``C`` to ``E`` is +2, ``c`` to ``B`` is -1), so a melody written in
    another key or octave has the same shingles; accidentals are ignored.
    """
    positions = []
    for name in note_names(tune):
        letter_and_octave = name.lstrip("^_=")
        positions.append(staff_position(letter_and_octave[0], letter_and_octave[1:]))
    steps = [after - before for before, after in zip(positions, positions[1:])]
    return {tuple(steps[start:start + size - 1]) for start in range(len(steps) - size + 2)}


class _ShingleIndex:
    """Which tunes hold each shingle, to find the tune sharing most of a given tune's shingles quickly."""

    def __init__(self) -> None:
        self.holders: dict[tuple[str, ...], list[int]] = {}

    def add(self, number: int, shingles: set[tuple[str, ...]]) -> None:
        for shingle in shingles:
            self.holders.setdefault(shingle, []).append(number)

    def largest_share(self, shingles: set[tuple[str, ...]], exclude: int | None = None) -> float:
        """The largest share of ``shingles`` that a single indexed tune (other than ``exclude``) holds; 0 when none."""
        if not shingles:
            return 0.0
        counts: dict[int, int] = {}
        for shingle in shingles:
            for number in self.holders.get(shingle, ()):
                if number != exclude:
                    counts[number] = counts.get(number, 0) + 1
        return max(counts.values(), default=0) / len(shingles)


def deduplicate(tunes: Sequence[str]) -> tuple[list[str], int]:
    """Drop tunes that repeat an earlier one; return (kept tunes in order, number dropped).

    A tune repeats an earlier one when both have the same ``X:`` number and title
    (music21's O'Neill files overlap), or when at least :data:`DUPLICATE_SHARE` of its
    8-note runs appear in one earlier tune (the same tune under another number).
    """
    kept: list[str] = []
    seen_headers: set[tuple[str, str]] = set()
    index = _ShingleIndex()
    for tune in tunes:
        header = (tune_header(tune, "X"), tune_title(tune))
        shingles = note_shingles(tune)
        if header in seen_headers or index.largest_share(shingles) >= DUPLICATE_SHARE:
            continue
        seen_headers.add(header)
        index.add(len(kept), shingles)
        kept.append(tune)
    return kept, len(tunes) - len(kept)


def split_held_out(tunes: Sequence[str], count: int, seed: int = 0,
                   extra_training: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """Choose ``count`` held-out tunes that no training tune gives away; return (held out, training).

    Tunes are taken in a random order (``seed``); a candidate joins the held-out set only
    if less than :data:`HELD_OUT_MAX_SHARE` of its 8-note runs (:func:`melody_shingles`:
    in any key or octave) appear in any one other tune of ``tunes`` or of
    ``extra_training`` (e.g. Ryan's collection), and otherwise trains. Training tunes are
    the rest of ``tunes`` in their order, then ``extra_training``. Raises ValueError when fewer than ``count`` tunes qualify.
    """
    if count < 0 or count > len(tunes):
        raise ValueError(f"count must be between 0 and the {len(tunes)} tunes given, got {count}.")
    shingles = [melody_shingles(tune) for tune in tunes]
    index = _ShingleIndex()
    for number, tune_shingles in enumerate(shingles):
        index.add(number, tune_shingles)
    for number, tune in enumerate(extra_training):
        index.add(len(tunes) + number, melody_shingles(tune))
    held_out: list[int] = []
    for number in np.random.default_rng(seed).permutation(len(tunes)):
        if len(held_out) == count:
            break
        if shingles[number] and index.largest_share(shingles[number], exclude=number) < HELD_OUT_MAX_SHARE:
            held_out.append(int(number))
    if len(held_out) < count:
        raise ValueError(f"only {len(held_out)} tunes share less than half their notes with every other tune; "
                         f"ask for at most that many.")
    chosen = set(held_out)
    training = [tune for number, tune in enumerate(tunes) if number not in chosen] + list(extra_training)
    return [tunes[number] for number in held_out], training


def join_tunes(tunes: Sequence[str]) -> str:
    """Join tunes into one training text, separated (and terminated) by a blank line."""
    return "".join(tune + TUNE_SEPARATOR for tune in tunes)


def extract_tunes(text: str) -> list[str]:
    """Return the complete tunes found in generated text.

    A tune is complete when it starts with an ``X:`` line, has a ``K:`` line with at
    least one body line after it, and is followed by the blank-line separator (text cut
    off by the end of generation is not complete). Text before the first ``X:`` line is
    skipped.
    """
    tunes = []
    pieces = text.split(TUNE_SEPARATOR)
    for index, piece in enumerate(pieces):
        if index == len(pieces) - 1:
            break
        start = piece.find("X:")
        if start < 0 or (start > 0 and piece[start - 1] != "\n"):
            continue
        lines = piece[start:].strip("\n").splitlines()
        key_lines = [number for number, line in enumerate(lines) if line.startswith("K:")]
        if key_lines and key_lines[0] < len(lines) - 1:
            tunes.append("\n".join(lines))
    return tunes


def tune_title(tune: str) -> str:
    """The tune's ``T:`` title, or ``"untitled"``."""
    for line in tune.splitlines():
        if line.startswith("T:"):
            return line[2:].strip() or "untitled"
    return "untitled"


def parse_tune(tune: str):
    """Parse one ABC tune with music21 and return the ``music21.stream.Score``.

    Raises:
        TypeError: if ``tune`` is not a string.
        ValueError: if music21 cannot parse it or it contains no notes; the message
            names the problem.
    """
    if not isinstance(tune, str):
        raise TypeError(f"tune must be ABC text (a str), got {type(tune).__name__}.")
    if "K:" not in tune:
        raise ValueError("The tune has no K: (key) line, so it has no body; an ABC tune needs X:, header fields, K: and then the notes.")
    from music21 import converter

    # music21 prints its ABC warnings straight to stderr ("Could not get pitch information ..."),
    # which a notebook shows in red under the cell; what matters is reported by the callers.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            score = converter.parse(tune, format="abc")
        except Exception as error:  # music21 raises many exception types for bad ABC
            summary = str(error).splitlines()[0][:160] if str(error) else ""
            raise ValueError(f"music21 could not parse this ABC tune ({type(error).__name__}: {summary}).") from error
    if not any(True for _ in score.recurse().notes):
        raise ValueError("The ABC tune parsed but contains no notes; check the body after the K: line.")
    return score


@dataclass(frozen=True)
class TuneNotes:
    """The notes of a tune as arrays (one entry per note, chords give one per pitch).

    Attributes:
        start: onset of each note in quarter notes from the beginning, shape (N,).
        duration: length of each note in quarter notes, shape (N,).
        pitch: MIDI pitch numbers (60 = middle C), shape (N,), int.
        seconds_per_quarter: tempo, from the ``Q:`` field or music21's default of 120 bpm.
        bars: number of bars (measures) in the notated tune, before repeats.
    """

    start: np.ndarray
    duration: np.ndarray
    pitch: np.ndarray
    seconds_per_quarter: float
    bars: int

    @property
    def length_quarters(self) -> float:
        """Length of the tune in quarter notes."""
        return float(np.max(self.start + self.duration)) if len(self.start) else 0.0

    @property
    def length_seconds(self) -> float:
        """Length of the tune in seconds at its tempo."""
        return self.length_quarters * self.seconds_per_quarter


def _count_bars(score) -> int:
    """Number of measures in the first part of a score.

    music21 leaves very short ABC tunes without measures; their bars are then counted by
    cutting the notes into measures of the tune's time signature.
    """
    part = (list(score.parts) or [score])[0]
    bars = len(part.getElementsByClass("Measure"))
    if bars == 0:
        try:
            bars = len(part.makeMeasures().getElementsByClass("Measure"))
        except Exception:  # no usable time signature: the tune has no bars to count
            bars = 0
    return bars


def _seconds_per_quarter(score) -> float:
    """Tempo of the first metronome mark (music21 supplies 120 bpm if ABC has no Q:)."""
    boundaries = score.metronomeMarkBoundaries()
    if boundaries:
        seconds = boundaries[0][2].secondsPerQuarter()
        if seconds and np.isfinite(seconds) and seconds > 0:
            return float(seconds)
    return 0.5


_QUOTED_OR_FIELD = re.compile(r'("[^"]*"|\[[A-Za-z]:[^\]]*\])')
_ANNOTATION = re.compile(r'^"[\^_<>@]')
_FERMATA = re.compile(r"H(?=[=^_]*[A-Ga-gz])")


def _playable_text(tune: str) -> str:
    """The tune with what music21 misreads in its body made plain.

    Annotations (quoted text starting with ``^ _ < > @``, such as ``">"``) are removed,
    since music21 can take their ``>`` for a broken-rhythm mark; the fermata shortcut
    ``H`` is written ``!fermata!``, since music21 drops the note after ``H``. Header
    lines, field lines and chord symbols are left as they are.
    """
    lines = tune.splitlines()
    body_start = next((number + 1 for number, line in enumerate(lines) if line.startswith("K:")), len(lines))
    for number in range(body_start, len(lines)):
        if _FIELD_LINE.match(lines[number]):
            continue
        pieces = _QUOTED_OR_FIELD.split(lines[number])
        lines[number] = "".join(
            ("" if _ANNOTATION.match(piece) else piece) if piece.startswith(('"', "[")) else _FERMATA.sub("!fermata!", piece)
            for piece in pieces)
    return "\n".join(lines)

GRACE_SHARE = 0.25
"""A grace note lasts this share of its written length, taken from the start of the note it leads into (as abc2midi does)."""


def _ending_passes(score, measures: Sequence) -> dict[int, set[int]]:
    """For each of ``measures`` inside a first, second, ... ending (keyed by ``id``), the passes that play it.

    An ending runs from the first to the last measure its bracket spans (music21 may
    list only those two).
    """
    from music21 import spanner

    position = {id(measure): index for index, measure in enumerate(measures)}
    passes: dict[int, set[int]] = {}
    for bracket in score.recurse().getElementsByClass(spanner.RepeatBracket):
        spanned = [position[id(measure)] for measure in bracket.getSpannedElements() if id(measure) in position]
        for index in range(min(spanned, default=0), max(spanned, default=-1) + 1):
            passes[id(measures[index])] = set(bracket.numberRange or [])
    return passes


def _is_repeat(barline, direction: str) -> bool:
    from music21 import bar

    return isinstance(barline, bar.Repeat) and barline.direction == direction


def _is_double_bar(barline) -> bool:
    """True for a double or final bar line (``||``, ``|]``, ``[|``) that is not a repeat."""
    from music21 import bar

    return isinstance(barline, bar.Barline) and not isinstance(barline, bar.Repeat) and barline.type in (
        "double", "final", "light-light", "light-heavy", "heavy-light")


def playing_order(measures: Sequence, ending_passes: dict[int, set[int]]) -> list[int]:
    """The order in which the measures of a part are played, repeats and endings taken (indices into ``measures``).

    The rules are abc2midi's: ``:|`` goes back to the last ``|:``, or, when there is
    none, to the bar after the previous ``:|`` or after the last double bar that follows
    a ``:|``, or else to the start of the tune; a section without endings
    plays twice. A measure inside an ending plays on the passes its numbers give
    (``ending_passes``, from :func:`_ending_passes`), and a ``:|`` at the end of an
    ending always goes back for the next pass, so ``|: A |1 B :|2 C :|3 D |]`` plays
    A B A C A D. music21 sometimes hangs a ``:|`` on the left of the bar it ends (after
    splitting an over-long bar in two); it counts as ending that bar. Every ``:|`` sends
    the music back at most once per ending, so the order is never longer than the
    measures times their endings.
    """
    order: list[int] = []
    start, current_pass, index, last_end_repeat = 0, 1, 0, -1
    while index < len(measures):
        measure = measures[index]
        if index != start and _is_repeat(measure.leftBarline, "start"):
            start, current_pass = index, 1
        passes = ending_passes.get(id(measure))
        if passes is not None and current_pass not in passes:
            index += 1
            continue
        order.append(index)
        if _is_repeat(measure.rightBarline, "end") or _is_repeat(measure.leftBarline, "end"):
            last_end_repeat = max(last_end_repeat, index)
            if passes is not None or current_pass == 1:
                current_pass += 1
                index = start
                continue
            start, current_pass = index + 1, 1
        elif 0 <= last_end_repeat < index and _is_double_bar(measure.rightBarline):
            start, current_pass = index + 1, 1
        index += 1
    return order


def _grace_length(element) -> float:
    """How long a grace note sounds, in quarter notes: :data:`GRACE_SHARE` of its written length."""
    from music21 import duration

    try:
        written = duration.Duration(type=element.duration.type).quarterLength
    except Exception:  # a grace note without a usable written type counts as an eighth note
        written = 0.5
    return GRACE_SHARE * float(written)


def _play_measures(measures: Sequence, first_offset: float = 0.0) -> tuple[list[float], list[float], list[int]]:
    """Play measures one after the other; return (starts, durations, pitches), one entry per sounding pitch.

    A tie joins a note to the next note only when that note has the same pitch (a tie
    between two different pitches is really a slur: both notes sound). Grace notes
    sound just before the note they lead into and take their time from it. Rests and
    chord symbols sound nothing.
    """
    from music21 import harmony

    starts: list[float] = []
    durations: list[float] = []
    pitches: list[int] = []
    tied: dict[int, int] = {}
    graces: list = []
    measure_offset = first_offset
    for measure in measures:
        for element in measure.flatten().notesAndRests:
            if isinstance(element, harmony.ChordSymbol):
                continue
            if element.duration.isGrace:
                graces.append(element)
                continue
            onset = measure_offset + float(element.offset)
            length = float(element.quarterLength)
            if element.isRest or length <= 0:
                tied, graces = {}, []
                continue
            grace_lengths = [_grace_length(grace) for grace in graces]
            steal = min(sum(grace_lengths), length / 2)
            scale = steal / sum(grace_lengths) if grace_lengths else 0.0
            for grace, grace_length in zip(graces, grace_lengths):
                for pitch in grace.pitches:
                    starts.append(onset)
                    durations.append(grace_length * scale)
                    pitches.append(int(round(pitch.ps)))
                onset += grace_length * scale
                length -= grace_length * scale
            graces = []
            still_tied: dict[int, int] = {}
            for note in (element.notes if element.isChord else [element]):
                pitch = int(round(note.pitch.ps))
                if pitch in tied:
                    number = tied[pitch]
                    durations[number] = onset + length - starts[number]
                else:
                    number = len(starts)
                    starts.append(onset)
                    durations.append(length)
                    pitches.append(pitch)
                tie = note.tie if note.tie is not None else element.tie
                if tie is not None and tie.type in ("start", "continue"):
                    still_tied[pitch] = number
            tied = still_tied
        measure_offset += float(measure.highestTime)
    return starts, durations, pitches


def tune_notes(tune: str, expand_repeats: bool = True) -> TuneNotes:
    """Parse a tune and list the notes it plays (see :class:`TuneNotes`).

    Notes joined by a tie sound as one note when they have the same pitch and as two
    notes otherwise; grace notes sound briefly before their note (see
    :data:`GRACE_SHARE`); chord symbols and annotations are left out (see
    :func:`_playable_text` for what is cleaned before music21 reads the tune). With ``expand_repeats`` repeats
    and first and second endings are played out as abc2midi plays them (see
    :func:`playing_order`); without it every bar plays once, as written.

    Raises:
        ValueError: if the tune does not parse or has no notes (see :func:`parse_tune`).
    """
    score = parse_tune(_playable_text(tune) if isinstance(tune, str) else tune)
    bars = _count_bars(score)
    seconds_per_quarter = _seconds_per_quarter(score)
    starts, durations, pitches = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for part in list(score.parts) or [score]:
            measures = list(part.getElementsByClass("Measure"))
            if not measures:
                played = _play_measures([part])
            else:
                order = playing_order(measures, _ending_passes(score, measures)) if expand_repeats else range(len(measures))
                played = _play_measures([measures[index] for index in order], float(measures[0].offset))
            starts += played[0]
            durations += played[1]
            pitches += played[2]
    if not starts:
        raise ValueError("The ABC tune has no playable notes (only grace notes or chord symbols).")
    order = np.argsort(starts, kind="stable")
    return TuneNotes(
        start=np.asarray(starts, dtype=float)[order],
        duration=np.asarray(durations, dtype=float)[order],
        pitch=np.asarray(pitches, dtype=int)[order],
        seconds_per_quarter=seconds_per_quarter,
        bars=bars,
    )


@dataclass(frozen=True)
class TuneForm:
    """Whether a tune keeps its metre and key (see :func:`tune_form`)."""

    inner_bars: int
    inner_bars_right: int
    ends_on_tonic: bool
    in_key_share: float

    @property
    def bars_right_share(self) -> float:
        """Share of inner bars whose length is the metre's (1.0 for a tune without inner bars)."""
        return self.inner_bars_right / self.inner_bars if self.inner_bars else 1.0


def _ends_section(measure) -> bool:
    from music21 import bar

    right = measure.rightBarline
    return right is not None and (isinstance(right, bar.Repeat) or right.type in ("double", "final", "light-heavy"))


def _starts_section(measure) -> bool:
    from music21 import bar

    return isinstance(measure.leftBarline, bar.Repeat)


def tune_form(tune: str) -> TuneForm:
    """Check a tune's bars against its metre, its notes against its key, and its last note.

    Inner bars are all bars but the first and last, the bars that end a section
    (a repeat or a double bar) and the bars that start one, where ABC allows a
    pickup and the short bar that completes it. A bar is right when its notes
    last exactly one bar of the time signature in force. ``in_key_share`` is the
    share of notes whose pitch class belongs to the ``K:`` key's scale (its mode
    included); ``ends_on_tonic`` says whether the last note is the key's tonic.

    Raises:
        ValueError: if the tune does not parse, has no bars or no time signature.
    """
    from music21 import key, meter

    score = parse_tune(tune)
    part = (list(score.parts) or [score])[0]
    measures = list(part.getElementsByClass("Measure"))
    signatures = list(score.recurse().getElementsByClass(meter.TimeSignature))
    if not measures or not signatures:
        raise ValueError("The tune has no bars or no metre (M: field) to check them against.")
    inner = right = 0
    for number, measure in enumerate(measures):
        previous = measures[number - 1] if number else None
        if number in (0, len(measures) - 1) or _ends_section(measure) or _starts_section(measure) or (
                previous is not None and _ends_section(previous)):
            continue
        signature = measure.getContextByClass(meter.TimeSignature) or signatures[0]
        inner += 1
        right += abs(measure.duration.quarterLength - signature.barDuration.quarterLength) < 1e-6
    notes = [element for element in score.flatten().notes if element.quarterLength > 0 and hasattr(element, "pitches")]
    keys = list(score.recurse().getElementsByClass(key.KeySignature))
    tune_key = keys[0] if keys else key.Key("C")
    tune_key = tune_key if isinstance(tune_key, key.Key) else tune_key.asKey()
    scale = {pitch.pitchClass for pitch in tune_key.getPitches()}
    pitch_classes = [pitch.pitchClass for element in notes for pitch in element.pitches]
    in_key = sum(pitch in scale for pitch in pitch_classes) / len(pitch_classes) if pitch_classes else 0.0
    last = notes[-1].pitches[-1].pitchClass if notes else None
    return TuneForm(inner, int(right), last == tune_key.tonic.pitchClass, float(in_key))


@dataclass(frozen=True)
class FormSummary:
    """How well a set of tunes keeps metre and key (see :func:`summarize_forms`); shares in [0, 1]."""

    tunes: int
    unreadable: int
    bars_right_share: float
    every_bar_right_share: float
    tonic_ending_share: float
    in_key_share: float


def summarize_forms(tunes: Sequence[str], description: str = "measuring tunes") -> FormSummary:
    """Measure :func:`tune_form` over ``tunes`` with a progress bar; tunes it cannot read are counted, not fatal.

    ``bars_right_share`` pools the inner bars of every tune; ``every_bar_right_share``,
    ``tonic_ending_share`` and ``in_key_share`` are averages over the readable tunes.
    """
    from tqdm.auto import tqdm

    forms = []
    for tune in tqdm(tunes, desc=description, leave=False):
        try:
            forms.append(tune_form(tune))
        except Exception:  # a tune music21 cannot read counts as unreadable
            continue
    if not forms:
        return FormSummary(0, len(tunes), 0.0, 0.0, 0.0, 0.0)
    inner = sum(form.inner_bars for form in forms)
    return FormSummary(
        tunes=len(forms),
        unreadable=len(tunes) - len(forms),
        bars_right_share=sum(form.inner_bars_right for form in forms) / inner if inner else 1.0,
        every_bar_right_share=float(np.mean([form.inner_bars_right == form.inner_bars for form in forms])),
        tonic_ending_share=float(np.mean([form.ends_on_tonic for form in forms])),
        in_key_share=float(np.mean([form.in_key_share for form in forms])),
    )


def plot_tune_forms(summaries: dict[str, FormSummary], axis=None):
    """Grouped bars, one group per measure of form and one bar per named :class:`FormSummary`; return the figure."""
    import matplotlib.pyplot as plt

    measures = {"inner bars of the\nright length": "bars_right_share",
                "tunes with every\ninner bar right": "every_bar_right_share",
                "last note on\nthe tonic": "tonic_ending_share", "notes in\nthe key": "in_key_share"}
    if axis is None:
        figure, axis = plt.subplots(figsize=(10.0, 3.2))
    else:
        figure = axis.figure
    width = 0.8 / max(1, len(summaries))
    for number, (name, summary) in enumerate(summaries.items()):
        positions = np.arange(len(measures)) + (number - (len(summaries) - 1) / 2) * width
        if summary.tunes == 0:
            # No readable tune: nothing was measured, which is not the same as 0%.
            axis.bar(positions, np.zeros(len(measures)), width=width, label=f"{name} (no readable tunes: not measured)")
            continue
        shares = [100 * getattr(summary, field) for field in measures.values()]
        bars = axis.bar(positions, shares, width=width, label=f"{name} ({summary.tunes} tunes)")
        axis.bar_label(bars, fmt="%.0f%%", fontsize=8)
    axis.set_xticks(np.arange(len(measures)), list(measures))
    axis.set(ylim=(0, 112), ylabel="%", title="Do the tunes keep their metre and key?")
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    figure.tight_layout()
    return figure


@dataclass(frozen=True)
class TuneCheck:
    """Result of :func:`check_tune`: whether a tune is usable, and why not."""

    valid: bool
    bars: int = 0
    notes: int = 0
    seconds: float = 0.0
    error: str = ""


def check_tune(tune: str) -> TuneCheck:
    """Check that music21 parses a tune and that it has bars and notes; never raises.

    Returns a :class:`TuneCheck` with the number of bars (as written), notes and
    seconds (repeats played), or ``valid=False`` and the error message.
    """
    try:
        notes = tune_notes(tune)
    except (ValueError, TypeError) as error:
        return TuneCheck(valid=False, error=str(error))
    except Exception as error:  # anything else music21 raises must not stop a batch
        return TuneCheck(valid=False, error=f"{type(error).__name__}: {error}")
    if notes.bars < 1:
        return TuneCheck(valid=False, notes=len(notes.pitch), error="The tune has notes but no bars.")
    return TuneCheck(valid=True, bars=notes.bars, notes=len(notes.pitch), seconds=notes.length_seconds)


_PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def piano_roll(tune: str | TuneNotes, title: str | None = None, axis=None):
    """Draw a tune as a piano roll: time (beats) across, pitch up; return the figure.

    Args:
        tune: ABC text or the :class:`TuneNotes` of a tune.
        title: plot title; defaults to the tune's ``T:`` title.
        axis: a matplotlib axis to draw into; a new figure is made if None.

    Raises:
        ValueError: if ABC text does not parse (see :func:`parse_tune`).
    """
    import matplotlib.pyplot as plt

    notes = tune if isinstance(tune, TuneNotes) else tune_notes(tune)
    if title is None:
        title = tune_title(tune) if isinstance(tune, str) else ""
    if axis is None:
        figure, axis = plt.subplots(figsize=(min(16.0, 3.0 + notes.length_quarters / 6.0), 3.0))
    else:
        figure = axis.figure
    colours = plt.get_cmap("viridis")((notes.pitch - notes.pitch.min()) / max(1, np.ptp(notes.pitch)))
    axis.barh(notes.pitch, notes.duration * 0.95, left=notes.start, height=0.8, color=colours, edgecolor="none")
    low, high = int(notes.pitch.min()) - 1, int(notes.pitch.max()) + 1
    ticks = [pitch for pitch in range(low, high + 1) if pitch % 12 in (0, 7)]
    axis.set_yticks(ticks, [f"{_PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}" for pitch in ticks])
    axis.set(xlim=(0, notes.length_quarters), ylim=(low - 0.5, high + 0.5), xlabel="beats (quarter notes)", ylabel="pitch", title=title)
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


MIDI_TICKS_PER_QUARTER = 480
"""Time resolution of the MIDI files :func:`write_midi` writes."""


def _variable_length(value: int) -> bytes:
    """A number in MIDI's variable-length encoding (7 bits a byte, high bit set on all but the last)."""
    encoded = [value & 0x7F]
    value >>= 7
    while value:
        encoded.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(encoded))


def midi_bytes(notes: TuneNotes, velocity: int = 80) -> bytes:
    """Encode notes as a standard MIDI file (format 0, one track, piano) and return its bytes.

    Every note of ``notes`` becomes one note-on and one note-off at its start and end;
    the tempo is the tune's (``seconds_per_quarter``).
    """
    if not isinstance(notes, TuneNotes):
        raise TypeError(f"notes must be a labs.music.TuneNotes (from tune_notes), got {type(notes).__name__}.")
    if not 1 <= velocity <= 127:
        raise ValueError(f"velocity must be between 1 and 127, got {velocity}.")
    ticks = MIDI_TICKS_PER_QUARTER
    events = []
    for start, duration, pitch in zip(notes.start, notes.duration, notes.pitch):
        on = int(round(start * ticks))
        off = max(on + 1, int(round((start + duration) * ticks)))
        events += [(on, 1, bytes([0x90, int(pitch), velocity])), (off, 0, bytes([0x80, int(pitch), 0]))]
    events.sort(key=lambda event: (event[0], event[1]))
    microseconds_per_quarter = int(round(notes.seconds_per_quarter * 1e6))
    track = b"\x00\xff\x51\x03" + microseconds_per_quarter.to_bytes(3, "big")
    previous = 0
    for tick, _, message in events:
        track += _variable_length(tick - previous) + message
        previous = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + ticks.to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + track


def write_midi(tune: str, path: str | Path) -> Path:
    """Write the notes an ABC tune plays (:func:`tune_notes`, repeats played out) as a MIDI file; return its path.

    The file holds exactly what :mod:`labs.audio` plays: a tie between two different
    pitches sounds both notes, and repeats and endings are taken.

    Raises:
        ValueError: if music21 cannot parse the tune or it has no notes.
    """
    path = Path(path)
    path.write_bytes(midi_bytes(tune_notes(tune)))
    return path
