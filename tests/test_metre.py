"""Bar arithmetic on unfinished ABC text (``labs.metre``), checked by hand and against music21."""

from __future__ import annotations

from fractions import Fraction

import pytest

from labs import music
from labs.metre import bar_state

JIG = "X:1\nT:Test\nM:6/8\nL:1/8\nK:G\n"


def _used(body: str, header: str = JIG) -> Fraction:
    state = bar_state(header + body)
    assert state is not None
    return state.used


def test_there_is_no_bar_to_fill_before_the_key_line_ends():
    assert bar_state("X:1\nT:Test\nM:6/8\nL:1/8\nK:") is None
    assert bar_state("X:1\nT:Test\nM:6/8\nL:1/8\nK:G") is None
    assert bar_state(JIG) is not None


def test_a_free_metre_has_no_bar_to_fill():
    assert bar_state("X:1\nT:Test\nM:none\nL:1/8\nK:G\nABc") is None


@pytest.mark.parametrize("metre, unit, bar_length", [("6/8", "L:1/8\n", Fraction(3, 4)), ("C", "L:1/8\n", Fraction(1)),
                                                     ("C|", "L:1/8\n", Fraction(1)), ("3/4", "", Fraction(3, 4))])
def test_the_bar_length_follows_the_metre(metre, unit, bar_length):
    state = bar_state(f"X:1\nT:Test\nM:{metre}\n{unit}K:D\nA")
    assert state.bar_length == bar_length


@pytest.mark.parametrize("body, length", [
    ("A", "1/8"), ("A2", "1/4"), ("A/", "1/16"), ("A//", "1/32"), ("A3/2", "3/16"), ("A/4", "1/32"),
    ("^f'2", "1/4"), ("z3", "3/8"), ("[ceg]2", "1/4"), ("[c2e2g2]", "1/4"), ("A>B", "1/4"), ("A<B", "1/4"),
    ("A>", "1/4"), ("A<", "1/4"), ("A>>", "1/4"), ("(3ABc", "1/4"), ("(3AB", "1/6"), ("(3:2:2AB", "1/6"),
    ('"Em"A2 !trill!B', "3/8"), ("{ag}A", "1/8"), ("~A2 .B", "3/8"), ("A2-A", "3/8"), ("|1 A2", "1/4"),
    ("[2 A2", "1/4"), (":|2 A2", "1/4"), ("A [L:1/16] A", "3/16"),
])
def test_lengths_of_notes_rests_chords_tuplets_and_broken_rhythm(body, length):
    """``A>`` promises a second note: it is counted at the unit length until it is written."""
    assert _used(body) == Fraction(length)


def test_the_last_note_is_pending_until_a_character_ends_it():
    state = bar_state(JIG + "c2d")
    assert (state.filled, state.pending) == (Fraction(1, 4), Fraction(1, 8))
    assert state.then("2").pending == Fraction(1, 4)
    assert state.then("/").pending == Fraction(1, 16)
    assert (state.then(" ").filled, state.then(" ").pending) == (Fraction(3, 8), 0)


def test_inside_a_chord_symbol_or_decoration_nothing_changes_the_bar():
    for body, open_text in [('A2 "G', '"G'), ("A2 !tri", "!tri"), ("A2 {ga", "{ga"), ("A2 [", "[")]:
        state = bar_state(JIG + body)
        assert (state.in_text, state.open_text, state.used) == (True, open_text, Fraction(1, 4)), body
        assert state.then("a").in_text, body
    assert not bar_state(JIG + 'A2 "G" B').in_text


def test_a_bar_closes_at_a_bar_line_a_repeat_or_an_ending_written_after_notes():
    state = bar_state(JIG + "GAB c")
    assert state.closes_bar("|") and state.closes_bar(":") and not state.closes_bar("A")
    assert bar_state(JIG + "GAB c [").closes_bar("1")
    assert not bar_state(JIG + "GAB|[").closes_bar("1")
    assert not bar_state(JIG + 'GAB "G').closes_bar("|")


def test_a_bar_line_starts_an_empty_bar_that_is_no_longer_the_first():
    state = bar_state(JIG + "GA")
    assert state.first_bar and state.may_be_short
    after = state.then("|")
    assert (after.used, after.first_bar, after.may_be_short) == (0, False, False)
    assert bar_state(JIG + "GA|B").used == Fraction(1, 8)


def test_a_repeat_sign_at_the_start_still_leaves_room_for_a_pickup():
    assert bar_state(JIG + "|:GA").may_be_short


@pytest.mark.parametrize("body, short", [("DEF|GAB|", False), ("DEF|GAB||", True), ("DEF|GAB:|", True),
                                         ("DEF|GAB|:", True), ("DEF|GAB|]", True), ("DEF|GAB|1", False)])
def test_a_section_start_may_be_a_pickup_a_plain_bar_may_not(body, short):
    assert bar_state(JIG + body + "A").may_be_short is short
    state = bar_state(JIG + body[:-1])
    for character in body[-1:] + "A":
        state = state.then(character)
    assert state.may_be_short is short


def test_the_state_of_text_and_of_text_extended_one_character_at_a_time_agree():
    body = '|:"G"GAB (3cBA G2|[M:3/4]d>c B2 A2|{g}f/e/d/c/ B2 z2:|'
    state = bar_state(JIG)
    for index, character in enumerate(body):
        state = state.then(character)
        again = bar_state(JIG + body[:index + 1])
        assert (state.used, state.in_text) == (again.used, again.in_text), body[:index + 1]


def test_later_tunes_in_the_text_are_measured_on_their_own():
    text = JIG + "GAB|cde|\n\nX:2\nT:Two\nM:2/4\nL:1/16\nK:D\nAB"
    state = bar_state(text)
    assert (state.bar_length, state.used, state.first_bar) == (Fraction(1, 2), Fraction(1, 8), True)


@pytest.mark.parametrize("bars", [
    ["GAB cBA", "d2e f2g", "(3gfe d2 B>A", "[GB]3 z3"],
    ["A/B/c/d/ e2 f", "{a}g>f e/d/c/B/", "A3 B3"],
])
def test_bar_lengths_agree_with_music21(bars):
    tune = JIG + "|".join(bars) + "|]\n"
    measures = list(music.parse_tune(tune).parts[0].getElementsByClass("Measure")) if music.parse_tune(tune).parts \
        else list(music.parse_tune(tune).getElementsByClass("Measure"))
    music21_lengths = [Fraction(measure.duration.quarterLength).limit_denominator(96) / 4 for measure in measures]
    ours = []
    text = JIG
    for bar in bars:
        text += ("|" if ours else "") + bar
        ours.append(bar_state(text).used)
    assert ours == music21_lengths[:len(ours)]


def test_most_plain_bars_of_real_tunes_add_up_to_the_metre():
    """About 98% of the plain bar lines of O'Neill's tunes close a full bar (music21 finds 98% of inner bars right)."""
    full = total = 0
    for tune in music.load_tunes()[:150]:
        for index, character in enumerate(tune):
            if character != "|" or tune[index + 1:index + 2] in ("|", "]"):
                continue
            state = bar_state(tune[:index])
            if state is None or state.in_text or not state.used or state.may_be_short or \
                    state.bar_text.rstrip().endswith(":"):
                continue
            total += 1
            full += state.used == state.bar_length
    assert total > 1000
    assert full / total > 0.96


def test_then_takes_one_character():
    with pytest.raises(ValueError, match="one character"):
        bar_state(JIG).then("ab")
