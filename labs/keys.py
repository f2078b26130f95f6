"""Keys of ABC tunes: reading the ``K:`` field, and moving a whole tune to another key.

A key is counted on the circle of fifths: the number of sharps of its signature
(negative: flats), so G major and E minor are 1, F major is -1. A tonic is counted the
same way as the major key it names (``F#`` is 6). Transposing a tune by some
semitones moves its key and every note by the same interval: the notes keep their
place in the scale, so a note without an accidental stays without one (the new
key signature supplies it), and an explicit accidental is rewritten for the new
letter. Chord symbols in quotes move with the notes; other text, decorations and
field lines other than ``K:`` are left as they are.

The ABC rules used are those of the standard, v2.1
(https://abcnotation.com/wiki/abc:standard:v2.1#kkey and #accidentals).
"""

from __future__ import annotations

import re

_LETTERS = "CDEFGAB"
#: Semitones of each natural note above C.
_NATURAL = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
#: Position of each natural tonic on the circle of fifths (sharps of its major key).
_TONIC_FIFTHS = {"F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5}
#: Sharps of a mode's signature relative to the major key on the same tonic.
_MODE_FIFTHS = {"maj": 0, "ion": 0, "mix": -1, "dor": -2, "m": -3, "min": -3, "aeo": -3, "phr": -4, "loc": -5, "lyd": 1}
_ACCIDENTALS = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
_ACCIDENTAL_TEXT = {value: text for text, value in _ACCIDENTALS.items()}

_KEY = re.compile(r"^(\s*)([A-G])([#b]?)(\s*)([A-Za-z]*)(.*)$")
_FIELD_LINE = re.compile(r"^([A-Za-z]):(.*)$")
# In a body line: quoted text, decorations, inline fields, comments, or a note.
_BODY_TOKEN = re.compile(
    r'(?P<quoted>"[^"]*")|(?P<decoration>![^!\n]*!)|(?P<plus>\+[^+\s]*\+)|(?P<inline>\[[A-Za-z]:[^\]]*\])'
    r"|(?P<comment>%.*$)"
    r"|(?P<note>(?P<accidental>\^\^|\^|__|_|=)?(?P<letter>[A-Ga-g])(?P<octave>[,']*))",
    re.MULTILINE,
)
# Between plus signs: a decoration (+trill+, +D.C.+, +fff+) or, in older ABC, a chord of notes (+E3A3+).
_OLD_CHORD = re.compile(r"(?:(?:\^\^|\^|__|_|=)?[A-Ga-g][,']*[0-9/]*){2,}")
_CHORD = re.compile(r"^([A-G])([#b]?)([^/]*?)(?:/([A-G])([#b]?))?$")


def staff_position(letter: str, octave_marks: str = "") -> int:
    """A note's line or space on the staff, counted in letters from the ``C`` of ABC's lower octave (``C`` is 0, ``c`` 7, ``B,`` -1)."""
    octave = int(letter.islower()) + octave_marks.count("'") - octave_marks.count(",")
    return _LETTERS.index(letter.upper()) + 7 * octave


def _mode_fifths(mode: str) -> int | None:
    """Sharps a mode adds to the major key on its tonic; None if ``mode`` is no mode ABC knows."""
    mode = mode.lower()
    if mode in ("", "m"):
        return _MODE_FIFTHS[mode or "maj"]
    return _MODE_FIFTHS.get(mode[:3])


def _tonic_name(fifths: int) -> str:
    """The tonic at ``fifths`` on the circle (``1`` -> ``G``, ``-2`` -> ``Bb``, ``6`` -> ``F#``)."""
    letter = "FCGDAEB"[(fifths + 1) % 7]
    alteration = (fifths + 1) // 7
    return letter + ("#" * alteration if alteration > 0 else "b" * -alteration)


def _name_fifths(letter: str, accidental: str) -> int:
    return _TONIC_FIFTHS[letter] + 7 * (accidental == "#") - 7 * (accidental == "b")


def _key_field(value: str) -> tuple[int, int] | None:
    """(tonic fifths, signature sharps) of a ``K:`` value such as ``G``, ``Ador``, ``F# min``; None if unreadable."""
    match = _KEY.match(value)
    if match is None:
        return None
    mode = _mode_fifths(match.group(5))
    if mode is None:
        return None
    tonic = _name_fifths(match.group(2), match.group(3))
    return tonic, tonic + mode


def key_signature(tune: str) -> int:
    """Sharps of the signature of the tune's first ``K:`` field (flats negative): ``K:Ador`` is 1.

    Raises:
        ValueError: the tune has no ``K:`` field with a tonic and mode (``K:none``, ``K:HP``).
    """
    for line in tune.splitlines():
        if line.startswith("K:"):
            key = _key_field(line[2:])
            if key is None:
                break
            return key[1]
    raise ValueError("the tune has no K: field with a tonic and a mode, so it has no key signature to read.")


class _Interval:
    """A transposition: ``semitones`` up, ``fifths`` around the circle, ``steps`` letters up."""

    def __init__(self, semitones: int, fifths: int) -> None:
        self.semitones = semitones
        self.fifths = fifths
        # The letter shift that a move of `fifths` makes, in the direction of `semitones`.
        letters = (fifths * 4) % 7
        self.steps = min((letters + 7 * turn for turn in range(-2, 2)), key=lambda steps: abs(steps - semitones * 7 / 12))

    def key(self, value: str) -> str:
        """A ``K:`` value moved by this interval (the mode and anything after it kept); unreadable values unchanged."""
        if _key_field(value) is None:
            return value
        match = _KEY.match(value)
        tonic = _name_fifths(match.group(2), match.group(3)) + self.fifths
        return match.group(1) + _tonic_name(tonic) + match.group(4) + match.group(5) + match.group(6)

    def chord(self, symbol: str) -> str:
        """A chord symbol such as ``Am``, ``D7`` or ``G/B`` moved by this interval; other text unchanged."""
        match = _CHORD.match(symbol)
        if match is None:
            return symbol
        root = _tonic_name(_name_fifths(match.group(1), match.group(2)) + self.fifths) + match.group(3)
        if match.group(4) is None:
            return root
        return root + "/" + _tonic_name(_name_fifths(match.group(4), match.group(5)) + self.fifths)

    def note(self, accidental: str | None, letter: str, octave_marks: str) -> str:
        """A note moved by this interval; an accidental is written only where the original had one."""
        old_position = staff_position(letter, octave_marks)
        position = old_position + self.steps
        new_letter, new_octave = _LETTERS[position % 7], position // 7
        text = ""
        if accidental is not None:
            pitch = _NATURAL[letter.upper()] + 12 * (old_position // 7) + _ACCIDENTALS[accidental] + self.semitones
            alteration = pitch - (_NATURAL[new_letter] + 12 * new_octave)
            if alteration not in _ACCIDENTAL_TEXT:
                raise ValueError(f"the note {accidental}{letter}{octave_marks} has no spelling a semitone or two "
                                 f"from {new_letter}; transpose by another interval.")
            text = _ACCIDENTAL_TEXT[alteration]
        if new_octave >= 1:
            return text + new_letter.lower() + "'" * (new_octave - 1)
        return text + new_letter + "," * -new_octave


def _transpose_body_line(line: str, interval: _Interval) -> str:
    def replace(match: re.Match) -> str:
        if match.group("quoted") is not None:
            return '"' + interval.chord(match.group("quoted")[1:-1]) + '"'
        if match.group("inline") is not None and match.group("inline").startswith("[K:"):
            field = match.group("inline")[3:-1]
            return "[K:" + interval.key(field) + "]"
        if match.group("plus") is not None:
            content = match.group("plus")[1:-1]
            if _OLD_CHORD.fullmatch(content) and set(content) != {"f"}:
                return "+" + _transpose_body_line(content, interval) + "+"
        if match.group("note") is not None:
            return interval.note(match.group("accidental"), match.group("letter"), match.group("octave"))
        return match.group(0)

    return _BODY_TOKEN.sub(replace, line)


def transpose_tune(tune: str, semitones: int) -> str:
    """Return ``tune`` moved ``semitones`` up (negative: down), its ``K:`` fields and chord symbols included.

    The new key is spelled with at most six sharps or flats (a tie goes to sharps).

    Raises:
        ValueError: the tune has no readable key (``K:none``, ``K:HP``), or a note cannot be spelled.
    """
    if not isinstance(semitones, int):
        raise TypeError(f"semitones must be an int, got {type(semitones).__name__}.")
    signature = key_signature(tune)
    fifths = (7 * semitones) % 12
    fifths = min((fifths, fifths - 12), key=lambda move: (abs(signature + move) > 6, abs(signature + move), -move))
    interval = _Interval(semitones, fifths)
    lines, in_body = [], False
    for line in tune.splitlines():
        field = _FIELD_LINE.match(line)
        if field is not None:
            if field.group(1) == "K":
                line = "K:" + interval.key(field.group(2))
                in_body = True
            lines.append(line)
            continue
        lines.append(_transpose_body_line(line, interval) if in_body else line)
    return "\n".join(lines) + ("\n" if tune.endswith("\n") else "")
