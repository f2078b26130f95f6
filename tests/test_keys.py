"""labs.keys: key signatures read from K: fields, and tunes moved to another key as music21 hears them."""

from __future__ import annotations

import random

import pytest

from labs import keys, music


def _pitches(tune: str) -> list[int]:
    """MIDI numbers of every note and chord tone music21 reads in the tune (chord symbols left out)."""
    from music21 import harmony

    score = music.parse_tune(tune)
    return [pitch.midi for element in score.recurse().notes if not isinstance(element, harmony.ChordSymbol)
            for pitch in element.pitches]


@pytest.mark.parametrize("field, sharps", [("G", 1), ("Em", 1), ("Ador", 1), ("A dorian", 1), ("F", -1), ("Bb", -2),
                                           ("Dmix", 1), ("F#m", 3), ("Ebmaj", -3), ("Amin clef=treble", 0),
                                           ("Elyd", 5), ("Bphr", 1), ("Dphr", -2), ("Bloc", 0)])
def test_the_key_signature_counts_sharps_for_every_mode(field: str, sharps: int):
    assert keys.key_signature(f"X:1\nT:t\nK:{field}\nabc|\n") == sharps


@pytest.mark.parametrize("field", ["none", "HP", ""])
def test_a_tune_without_a_readable_key_is_refused_with_a_sentence(field: str):
    tune = f"X:1\nT:t\nK:{field}\nabc|\n"
    with pytest.raises(ValueError, match="no K: field with a tonic"):
        keys.key_signature(tune)
    with pytest.raises(ValueError, match="no K: field with a tonic"):
        keys.transpose_tune(tune, 2)


def test_transposing_moves_the_key_the_notes_explicit_accidentals_and_chord_symbols():
    tune = 'X:1\nT:Tune in G\nM:4/4\nL:1/8\nK:G\n"G"GABc "D7/F#"d2^c2|=F2 [K:Em] e/f/g "^fine"B,2 z2|\n'
    assert keys.transpose_tune(tune, 2) == (
        'X:1\nT:Tune in G\nM:4/4\nL:1/8\nK:A\n"A"ABcd "E7/G#"e2^d2|=G2 [K:F#m] f/g/a "^fine"C2 z2|\n')
    assert keys.transpose_tune(tune, -5) == (
        'X:1\nT:Tune in G\nM:4/4\nL:1/8\nK:D\n"D"DEFG "A7/C#"A2^G2|=C2 [K:Bm] B/c/d "^fine"F,2 z2|\n')


def test_a_key_is_spelled_with_at_most_six_sharps_or_flats():
    assert "K:Db" in keys.transpose_tune("X:1\nT:t\nK:C\nC|\n", 1)
    assert "K:E\n" in keys.transpose_tune("X:1\nT:t\nK:Ab\nA|\n", 8)
    assert "K:Bbm" in keys.transpose_tune("X:1\nT:t\nK:Am\nA|\n", 1)


def test_a_transposed_tune_sounds_every_note_the_interval_higher_to_music21():
    tune = "X:1\nT:t\nM:6/8\nL:1/8\nK:D\n|:A|dcd ^efg|f=ff {g}f2e|[DA]2B ^A2_B|=c3 d2:|\n"
    original = _pitches(tune)
    for semitones in (-7, -5, -2, 2, 5, 7):
        assert _pitches(keys.transpose_tune(tune, semitones)) == [pitch + semitones for pitch in original]


@pytest.mark.slow
def test_corpus_tunes_transposed_a_fourth_either_way_sound_the_interval_away_and_come_back_unchanged():
    tunes = random.Random(0).sample(music.deduplicate(music.load_tunes())[0], 60)
    checked = 0
    for tune in tunes:
        try:
            original = _pitches(tune)
        except ValueError:
            continue
        for semitones in (-5, 5):
            moved = keys.transpose_tune(tune, semitones)
            assert _pitches(moved) == [pitch + semitones for pitch in original], music.tune_title(tune)
            assert keys.transpose_tune(moved, -semitones) == tune
        checked += 1
    assert checked >= 55
