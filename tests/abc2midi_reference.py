"""An independent reading of ABC tunes to check :mod:`labs.music` against: abc2midi.

abc2midi (Debian's ``abcmidi`` package) turns ABC text into a standard MIDI file. This
module runs it on one tune, reads the MIDI file with a small reader of its own (no MIDI
library needed) and compares the melody it holds with :func:`labs.music.tune_notes`:
number of notes and length in seconds.

Two things abc2midi plays are left out on purpose, since ``tune_notes`` plays the notes
as written: guitar chords (``-NGUI``) and ornaments, which abc2midi performs as extra
notes (a trill ``T`` as a run of 1/32 notes, a roll ``~`` as a grace note) and a
fermata ``H`` as a longer note (``-NFER``). Ornament signs are removed from the tune's
body before abc2midi reads it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ABC2MIDI = shutil.which("abc2midi")
"""Path of the abc2midi program, or None when it is not installed."""

INSTALL_HINT = "abc2midi is not installed (Debian/Ubuntu: apt-get install -y abcmidi)"

_ORNAMENTS = re.compile(r"[~T]|!(trill|roll|turn|mordent|uppermordent|lowermordent)!")
_QUOTED = re.compile(r'("[^"]*")')


def without_ornaments(tune: str) -> str:
    """The tune with its ornament signs (``~``, ``T``, ``!trill!`` and the like) removed from the body.

    Header lines, field lines inside the body and quoted text (chords, annotations) are kept.
    """
    lines = tune.splitlines()
    body_start = next((number + 1 for number, line in enumerate(lines) if line.startswith("K:")), len(lines))
    for number in range(body_start, len(lines)):
        if not re.match(r"^[A-Za-z]:", lines[number]):
            pieces = _QUOTED.split(lines[number])
            lines[number] = "".join(piece if piece.startswith('"') else _ORNAMENTS.sub("", piece) for piece in pieces)
    return "\n".join(lines)


@dataclass(frozen=True)
class MidiSummary:
    """The notes of a MIDI file: how many note-ons and when the last note ends (seconds)."""

    notes: int
    seconds: float


def _variable_length(data: bytes, position: int) -> tuple[int, int]:
    """A MIDI variable-length number starting at ``position``; return (value, next position)."""
    value = 0
    while True:
        byte = data[position]
        position += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, position


def _track_events(track: bytes) -> list[tuple[int, str, int]]:
    """(tick, kind, value) events of one track: kind "note" (note-on, value = pitch) or "tempo" (microseconds per quarter)."""
    events, position, tick, status = [], 0, 0, 0
    while position < len(track):
        delta, position = _variable_length(track, position)
        tick += delta
        if track[position] >= 0x80:
            status = track[position]
            position += 1
        if status == 0xFF:
            kind = track[position]
            length, position = _variable_length(track, position + 1)
            if kind == 0x51:
                events.append((tick, "tempo", int.from_bytes(track[position:position + 3], "big")))
            position += length
        elif status in (0xF0, 0xF7):
            length, position = _variable_length(track, position)
            position += length
        else:
            command = status & 0xF0
            size = 1 if command in (0xC0, 0xD0) else 2
            if command == 0x90 and track[position + 1] > 0:
                events.append((tick, "note", track[position]))
            events.append((tick, "end", 0))
            position += size
    return events


def read_midi(path: str | Path) -> MidiSummary:
    """Count the note-ons of a standard MIDI file and find when its last event ends, in seconds."""
    data = Path(path).read_bytes()
    if data[:4] != b"MThd":
        raise ValueError(f"{path} is not a standard MIDI file (it does not start with MThd).")
    division = int.from_bytes(data[12:14], "big")
    if division & 0x8000:
        raise ValueError(f"{path} counts time in SMPTE frames, which this reader does not handle.")
    events: list[tuple[int, str, int]] = []
    position = 8 + int.from_bytes(data[4:8], "big")
    while position + 8 <= len(data):
        length = int.from_bytes(data[position + 4:position + 8], "big")
        if data[position:position + 4] == b"MTrk":
            events += _track_events(data[position + 8:position + 8 + length])
        position += 8 + length
    events.sort(key=lambda event: event[0])
    seconds, last_tick, microseconds_per_quarter, end = 0.0, 0, 500_000, 0.0
    for tick, kind, value in events:
        seconds += (tick - last_tick) / division * microseconds_per_quarter / 1e6
        last_tick = tick
        if kind == "tempo":
            microseconds_per_quarter = value
        elif kind == "end":
            end = seconds
    return MidiSummary(notes=sum(kind == "note" for _, kind, _ in events), seconds=end)


def abc2midi_summary(tune: str) -> MidiSummary:
    """Run abc2midi on one ABC tune (melody only: no guitar chords, ornaments or fermatas) and summarise its MIDI file.

    Raises:
        RuntimeError: if abc2midi is missing or writes no MIDI file.
    """
    if ABC2MIDI is None:
        raise RuntimeError(INSTALL_HINT + ".")
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "tune.abc", Path(folder) / "tune.mid"
        source.write_text(without_ornaments(tune) + "\n", encoding="utf-8")
        subprocess.run([ABC2MIDI, str(source), "-o", str(target), "-NGUI", "-NFER", "-silent"],
                       capture_output=True, check=False, timeout=60)
        if not target.exists():
            raise RuntimeError("abc2midi wrote no MIDI file for this tune.")
        return read_midi(target)


@dataclass(frozen=True)
class Comparison:
    """One tune as :func:`labs.music.tune_notes` plays it next to abc2midi's reading."""

    title: str
    notes: int
    reference_notes: int
    seconds: float
    reference_seconds: float
    error: str = ""

    def within(self, tolerance: float) -> bool:
        """True when note count and length both differ from abc2midi's by at most ``tolerance`` (a share, e.g. 0.03)."""
        return (not self.error and abs(self.notes - self.reference_notes) <= tolerance * self.reference_notes
                and abs(self.seconds - self.reference_seconds) <= tolerance * self.reference_seconds)

    def __str__(self) -> str:
        problem = f", {self.error}" if self.error else ""
        return (f"{self.title}: {self.notes} notes / {self.seconds:.1f} s, "
                f"abc2midi {self.reference_notes} / {self.reference_seconds:.1f} s{problem}")


def compare_with_abc2midi(tune: str) -> Comparison:
    """Play one tune with :func:`labs.music.tune_notes` and with abc2midi; never raises for a tune music21 rejects."""
    from labs import music

    reference = abc2midi_summary(tune)
    try:
        notes = music.tune_notes(tune)
    except ValueError as error:
        return Comparison(music.tune_title(tune), 0, reference.notes, 0.0, reference.seconds, str(error))
    return Comparison(music.tune_title(tune), len(notes.pitch), reference.notes, notes.length_seconds, reference.seconds)
