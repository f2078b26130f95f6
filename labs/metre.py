"""Bar arithmetic on ABC text as it is being written: how much of the current bar is filled.

A character-level model writes a tune one character at a time, so the tools in
:mod:`labs.music`, which parse finished tunes with music21, cannot tell it whether the
next character still fits the bar. :func:`bar_state` reads an unfinished tune's text
directly (header fields, the metre and unit length in force, the notes of the bar being
written) and returns a :class:`BarState`; :meth:`BarState.then` extends it by one
character without reading the tune again, which is fast enough to try every character
of a vocabulary at every step of a generation.

Lengths are :class:`fractions.Fraction` values in whole notes: a quarter note is 1/4,
a bar of 6/8 is 3/4. The ABC features read are those of the tune collections used in
Lab 1 (https://abcnotation.com/wiki/abc:standard:v2.1, sections 4.1-4.20): note lengths
(``A2``, ``A/``, ``A3/2``), rests (``z``, ``x``), chords (``[ceg]2``, as long as their
first note), broken rhythm (``A>B``, ``A<B``, ``A>>B``), tuplets (``(3abc``,
``(3:2:3``), grace notes, chord symbols, decorations, inline fields and first and
second endings (``|1``, ``[2``), which take no time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from fractions import Fraction

_NOTES = frozenset("ABCDEFGabcdefg")
_RESTS = frozenset("zx")
_WHOLE_BAR_RESTS = frozenset("ZX")
_ACCIDENTALS = frozenset("^_=")
_OCTAVES = frozenset(",'")
_LENGTH = frozenset("0123456789/")
CLOSERS = {'"': '"', "!": "!", "+": "+", "{": "}", "[": "]"}
"""The character that closes each kind of open text (see :attr:`BarState.open_text`)."""
_FIELD = re.compile(r"^([A-Za-z]):(.*)$", re.MULTILINE)
_INLINE_FIELD = re.compile(r"\[([A-Za-z]):([^\]\n]*)\]")
_TEXT_IN_BODY = re.compile(r'"[^"\n]*"|![^!\n]*!|\+[^+\n]*\+|\{[^}\n]*\}|\[[A-Za-z]:[^\]\n]*\]')
#: Tuplet (p: the number of notes) -> q: they take the time of q notes (ABC 2.1, section 4.13).
_TUPLET_TIME = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}


@dataclass(frozen=True)
class BarState:
    """The bar being written at the end of an unfinished tune's text.

    Attributes:
        filled: length of the finished notes and rests of the bar, in whole notes.
        pending: length of the last note if it ended here; it may still change
            (``A`` can become ``A2`` or ``A/``), so it is not in ``filled``. 0 if the
            text does not end in a note.
        bar_length: length of a full bar in the metre in force, in whole notes.
        first_bar: True until the tune has a note before a bar line.
        opening: the bar-line characters just before this bar's ``|`` (``:`` for
            ``:|``, ``|`` for ``||``), empty for a plain bar line.
        open_text: the text since an unclosed ``"``, ``!``, ``+``, ``{`` or ``[`` (a chord
            symbol, annotation, decoration, grace notes, inline field or a chord just
            begun), where no character changes the bar's length; empty elsewhere.
        bar_text: the text of the bar so far (after the last bar line).
        unit: the unit note length (``L:``) in force, in whole notes.
    """

    filled: Fraction
    pending: Fraction
    bar_length: Fraction
    first_bar: bool
    opening: str
    open_text: str
    bar_text: str
    unit: Fraction

    @property
    def in_text(self) -> bool:
        """True inside a chord symbol, annotation, decoration, grace notes or inline field."""
        return bool(self.open_text)

    @property
    def used(self) -> Fraction:
        """Length of the bar so far, the last note included, in whole notes."""
        return self.filled + self.pending

    @property
    def may_be_short(self) -> bool:
        """Whether ABC allows this bar to be a pickup: the tune's first bar, or the first of a section.

        A section starts after ``|:``, ``||``, ``:|``, ``::`` or ``|]``.
        """
        return self.first_bar or bool(self.opening) or self.bar_text.lstrip(" ").startswith((":", "]"))

    def closes_bar(self, character: str) -> bool:
        """Whether ``character`` would end this bar: a bar line ``|``, the ``:`` of ``:|`` or ``::``,
        or the number of an ending (``[1``) written after notes, where music21 starts a new bar."""
        if character.isdigit() and self.bar_text.endswith("[") and self.filled > 0:
            return True
        return not self.in_text and character in "|:"

    def then(self, character: str) -> BarState:
        """The state after one more character; a bar line ``|`` starts a new, empty bar."""
        if len(character) != 1:
            raise ValueError(f"then() takes one character, got {character!r}.")
        if character == "|" and not self.in_text:
            opening = "|" if not self.bar_text else self.bar_text[len(self.bar_text.rstrip(":|]")):]
            return replace(self, filled=Fraction(0), pending=Fraction(0), first_bar=self.first_bar and not self.used,
                           opening=opening, bar_text="")
        return _measure(self.bar_text + character, self.unit, self.bar_length, self.first_bar, self.opening)


def _metre_length(value: str) -> Fraction | None:
    """Bar length in whole notes of an ``M:`` value (``6/8``, ``C``, ``C|``); None for free metre."""
    value = value.strip()
    if value in ("C", "C|"):
        return Fraction(1)
    match = re.fullmatch(r"(\d+)\s*/\s*(\d+)", value)
    if match is None or int(match.group(2)) == 0 or int(match.group(1)) == 0:
        return None
    return Fraction(int(match.group(1)), int(match.group(2)))


def _unit_length(value: str) -> Fraction | None:
    """Unit note length in whole notes of an ``L:`` value (``1/8``); None if unreadable."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
    if match is None or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        return None
    return Fraction(int(match.group(1)), int(match.group(2)))


def _current_tune(text: str) -> str:
    """The last tune of ``text``: what follows its last blank line."""
    start = text.rfind("\n\n")
    return text if start < 0 else text[start + 2:]


def bar_state(text: str) -> BarState | None:
    """Where the last tune of ``text`` stands in its current bar, or None if there is no bar to fill.

    ``text`` may hold several tunes separated by blank lines, the last one unfinished
    (as a generation is). None while the last tune is still in its header (before the
    end of its ``K:`` line), when its metre is free or unreadable (``M:none``), and on
    a field line in the body.
    """
    tune = _current_tune(text)
    metre: Fraction | None = Fraction(1)
    unit: Fraction | None = None
    body_start = None
    position = 0
    for line in tune.splitlines(keepends=True):
        field = _FIELD.match(line.rstrip("\n"))
        if field and field.group(1) == "M":
            metre = _metre_length(field.group(2))
        elif field and field.group(1) == "L":
            unit = _unit_length(field.group(2))
        position += len(line)
        if field and field.group(1) == "K":
            if not line.endswith("\n"):
                return None
            body_start = position
            break
    if body_start is None:
        return None
    body = tune[body_start:]
    line_start = body.rfind("\n") + 1
    current_line = body[line_start:]
    if _FIELD.match(current_line) or (len(current_line) == 1 and current_line.isalpha()
                                      and current_line not in _NOTES and current_line not in _RESTS):
        return None
    last_bar_line = _last_bar_line(body)
    for kind, value in _body_fields(body[:last_bar_line + 1]):
        if kind == "M":
            metre = _metre_length(value)
        elif kind == "L":
            unit = _unit_length(value)
    if metre is None:
        return None
    if unit is None:
        unit = Fraction(1, 16) if metre < Fraction(3, 4) else Fraction(1, 8)
    before = body[:max(last_bar_line, 0)]
    opening = before[len(before.rstrip(":|]")):] if last_bar_line >= 0 else ""
    first_bar = not any(character in _NOTES or character in _RESTS for character in _TEXT_IN_BODY.sub("", before))
    return _measure(body[last_bar_line + 1:], unit, metre, first_bar, opening)


def _body_fields(body: str) -> list[tuple[str, str]]:
    """The ``M:`` and ``L:`` fields of a tune's body, field lines and inline ``[M:3/4]`` alike, in order."""
    found = [(match.start(), match.group(1), match.group(2)) for match in _FIELD.finditer(body)]
    found += [(match.start(), match.group(1), match.group(2)) for match in _INLINE_FIELD.finditer(body)]
    return [(kind, value) for _, kind, value in sorted(found) if kind in "ML"]


def _last_bar_line(body: str) -> int:
    """Index of the last ``|`` of ``body`` outside chord symbols and annotations; -1 if none."""
    index = len(body)
    while True:
        index = body.rfind("|", 0, index)
        if index < 0 or body.count('"', 0, index) % 2 == 0:
            return index


def _length_factor(suffix: str) -> Fraction:
    """The multiplier an ABC length suffix gives: ``""`` 1, ``2`` 2, ``/`` 1/2, ``//`` 1/4, ``3/2`` 3/2."""
    numerator_text, slash, rest = suffix.partition("/")
    numerator = int(numerator_text) if numerator_text else 1
    if not slash:
        return Fraction(numerator)
    if rest.isdigit():
        return Fraction(numerator, int(rest)) if int(rest) else Fraction(10 ** 6)
    return Fraction(numerator, 2 ** (1 + rest.count("/"))) if set(rest) <= {"/"} else Fraction(10 ** 6)


def _measure(bar_text: str, unit: Fraction, bar_length: Fraction, first_bar: bool, opening: str) -> BarState:
    """Read the notes of one bar's text (what follows its bar line) into a :class:`BarState`.

    ``unit`` and ``bar_length`` are those in force where the bar starts; inline fields in
    the bar change them from there on.
    """
    bar_unit = unit
    filled = Fraction(0)
    length = len(bar_text)
    index = 0
    while index < length and bar_text[index] in ":]| ":
        index += 1
    while index < length and (bar_text[index].isdigit() or bar_text[index] in ",-"):
        index += 1
    previous: Fraction | None = None
    next_factor = Fraction(1)
    tuplet_factor, tuplet_notes = Fraction(1), 0
    while index < length:
        character = bar_text[index]
        if character in CLOSERS and character != "[":
            end = bar_text.find(CLOSERS[character], index + 1)
            if end < 0:
                return BarState(filled, Fraction(0), bar_length, first_bar, opening, bar_text[index:], bar_text, bar_unit)
            index = end + 1
            continue
        if character == "[" and (index + 1 == length or bar_text[index + 1].isalpha()) and (
                index + 2 >= length or bar_text[index + 2] == ":"):
            if index + 2 >= length:
                return BarState(filled, Fraction(0), bar_length, first_bar, opening, bar_text[index:], bar_text, bar_unit)
            end = bar_text.find("]", index)
            if end < 0:
                return BarState(filled, Fraction(0), bar_length, first_bar, opening, bar_text[index:], bar_text, bar_unit)
            if bar_text[index + 1] == "L":
                unit = _unit_length(bar_text[index + 3:end]) or unit
            elif bar_text[index + 1] == "M":
                bar_length = _metre_length(bar_text[index + 3:end]) or bar_length
            index = end + 1
            continue
        if character == "[" and index + 1 < length and bar_text[index + 1].isdigit():
            index += 1
            while index < length and (bar_text[index].isdigit() or bar_text[index] in ",-"):
                index += 1
            continue
        if character == "(" and index + 1 < length and bar_text[index + 1].isdigit():
            match = re.match(r"\((\d+)(?::(\d*))?(?::(\d*))?", bar_text[index:])
            notes = int(match.group(1))
            time = int(match.group(2)) if match.group(2) else _TUPLET_TIME.get(notes, 2)
            tuplet_factor = Fraction(time, notes) if notes else Fraction(1)
            tuplet_notes = int(match.group(3)) if match.group(3) else notes
            index += match.end()
            continue
        if character in "<>":
            end = index
            while end < length and bar_text[end] == character:
                end += 1
            dots = end - index
            if previous is not None:
                shift = previous * (1 - Fraction(1, 2 ** dots))
                filled += shift if character == ">" else -shift
                next_factor = 1 + (1 - Fraction(1, 2 ** dots)) * (-1 if character == ">" else 1)
            previous = None
            index = end
            if index >= length and next_factor != 1:
                # The second note of the pair is still to come: count it at its shortest likely length.
                return BarState(filled, unit * next_factor, bar_length, first_bar, opening, "", bar_text, bar_unit)
            continue
        note_end = _note_end(bar_text, index)
        if note_end is None:
            if character in _WHOLE_BAR_RESTS:
                filled += bar_length
            previous = None if character not in " -)" else previous
            index += 1
            continue
        note_length, index = _note_length(bar_text, index, note_end, unit)
        note_length *= next_factor * (tuplet_factor if tuplet_notes else 1)
        next_factor = Fraction(1)
        if tuplet_notes:
            tuplet_notes -= 1
        if index >= length:
            return BarState(filled, note_length, bar_length, first_bar, opening, "", bar_text, bar_unit)
        filled += note_length
        previous = note_length
    return BarState(filled, Fraction(0), bar_length, first_bar, opening, "", bar_text, bar_unit)


def _note_end(text: str, index: int) -> int | None:
    """End of the note, rest or chord head (before its length) starting at ``index``; None if none starts there."""
    length = len(text)
    if text[index] == "[":
        end = text.find("]", index)
        return length if end < 0 else end + 1
    position = index
    while position < length and text[position] in _ACCIDENTALS:
        position += 1
    if position >= length:
        return length if position > index else None
    if text[position] in _RESTS:
        return position + 1
    if text[position] not in _NOTES:
        return None
    position += 1
    while position < length and text[position] in _OCTAVES:
        position += 1
    return position


def _note_length(text: str, index: int, head_end: int, unit: Fraction) -> tuple[Fraction, int]:
    """Length in whole notes of the note or chord at ``index`` whose head ends at ``head_end``; and where it ends."""
    if text[index] == "[":
        inner = text[index + 1:head_end - 1] if text[head_end - 1:head_end] == "]" else text[index + 1:head_end]
        first = next((position for position in range(len(inner)) if _note_end(inner, position)), None)
        base = Fraction(1)
        if first is not None:
            inner_end = _note_end(inner, first)
            suffix_end = inner_end
            while suffix_end < len(inner) and inner[suffix_end] in _LENGTH:
                suffix_end += 1
            base = _length_factor(inner[inner_end:suffix_end])
    else:
        base = Fraction(1)
    end = head_end
    while end < len(text) and text[end] in _LENGTH:
        end += 1
    return unit * base * _length_factor(text[head_end:end]), end
