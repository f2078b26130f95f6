"""Unit tests for labs.music: corpus, tune text, extraction, parsing, piano roll."""

import matplotlib

matplotlib.use("Agg")

import pytest

from labs import music

SCALE = "X:1\nT:Scale\nM:4/4\nL:1/4\nK:C\nCDEF|GABc|]"


@pytest.fixture(scope="module")
def corpus():
    return music.load_tunes()


def test_oneills_corpus_has_2009_tunes(corpus):
    assert len(corpus) == 2009


def test_every_corpus_tune_starts_with_x_and_has_a_key_and_body(corpus):
    for tune in corpus:
        lines = tune.splitlines()
        assert lines[0].startswith("X:")
        key_line = next(number for number, line in enumerate(lines) if line.startswith("K:"))
        assert key_line < len(lines) - 1


def test_corpus_headers_keep_only_music_fields(corpus):
    for tune in corpus:
        header = tune.split("\nK:")[0].splitlines()
        assert {line[0] for line in header} <= set(music.HEADER_FIELDS_KEPT)


def test_ryans_option_adds_the_mammoth_collection(corpus):
    both = music.load_tunes(include_ryans=True)
    assert both[: len(corpus)] == corpus
    assert len(both) - len(corpus) > 1000


def test_load_collection_reads_one_collection_and_names_the_known_ones(corpus):
    assert music.load_collection("oneills1850") == corpus
    ryans = music.load_collection("ryansMammoth")
    assert ryans == music.load_tunes(include_ryans=True)[len(corpus):]
    with pytest.raises(ValueError, match="oneills1850"):
        music.load_collection("nottingham")


def test_split_abc_file_cuts_at_x_lines_and_ignores_file_header():
    text = "%abc-2.1\nfile header\n\nX:1\nT:A\nK:G\nGAB|\n\n\nX:2\nT:B\nK:D\nDEF|\n"
    assert music.split_abc_file(text) == ["X:1\nT:A\nK:G\nGAB|", "X:2\nT:B\nK:D\nDEF|"]


def test_clean_tune_drops_non_music_header_lines_and_comments():
    raw = 'X: 7\nT: Tune\nN: "Slow"\nZ: "Transcribed by someone"\nB: "Book"\nM: 6/8\nL: 1/8\n% a comment\nK:G\nGAB cde|  \n\nfed cBA|]'
    assert music.clean_tune(raw) == "X:7\nT:Tune\nM:6/8\nL:1/8\nK:G\nGAB cde|\nfed cBA|]"


def test_clean_tune_keeps_field_lines_inside_the_body():
    raw = "X:1\nK:G\nGAB|\nK:D\nDEF|"
    assert music.clean_tune(raw) == raw


def test_clean_tune_without_key_or_body_is_empty():
    assert music.clean_tune("X:1\nT:No key\nGAB|") == ""
    assert music.clean_tune("X:1\nT:No body\nK:G") == ""


def test_extract_tunes_round_trips_joined_tunes(corpus):
    assert music.extract_tunes(music.join_tunes(corpus[:5])) == corpus[:5]


def test_extract_tunes_drops_cut_off_tune_and_leading_garbage():
    text = "d2 e|]\n\n" + music.join_tunes([SCALE]) + "X:2\nT:Cut off\nK:G\nGA"
    assert music.extract_tunes(text) == [SCALE]


def test_extract_tunes_needs_key_line_and_body():
    text = "X:1\nT:No key\nGAB|\n\nX:2\nT:No body\nK:G\n\nX:3\nK:G\nGAB|\n\n"
    assert music.extract_tunes(text) == ["X:3\nK:G\nGAB|"]


def test_tune_title_reads_t_field():
    assert music.tune_title(SCALE) == "Scale"
    assert music.tune_title("X:1\nK:C\nC|") == "untitled"


def test_parse_tune_without_key_line_raises_clear_value_error():
    with pytest.raises(ValueError, match="K:"):
        music.parse_tune("X:1\nT:Broken\nCDEF|")


def test_parse_tune_that_music21_rejects_raises_value_error_naming_the_problem():
    with pytest.raises(ValueError, match="could not parse.*default note length"):
        music.parse_tune("X:1\nK:C\nzzz|")


def test_parse_tune_rejects_non_strings():
    with pytest.raises(TypeError, match="str"):
        music.parse_tune(42)


def test_tune_notes_of_a_scale():
    notes = music.tune_notes(SCALE)
    assert notes.pitch.tolist() == [60, 62, 64, 65, 67, 69, 71, 72]
    assert notes.start.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert notes.bars == 2
    assert notes.seconds_per_quarter == pytest.approx(0.5)
    assert notes.length_seconds == pytest.approx(4.0)


def test_tune_notes_plays_repeats_out():
    notes = music.tune_notes("X:1\nM:4/4\nL:1/4\nK:C\n|:CDEF|GABc:|\n|:cBAG|FEDC:|")
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    assert notes.pitch.tolist() == scale * 2 + scale[::-1] * 2
    assert notes.bars == 4


def test_tune_notes_uses_q_field_tempo():
    notes = music.tune_notes("X:1\nM:4/4\nL:1/4\nQ:1/4=60\nK:C\nCDEF|")
    assert notes.seconds_per_quarter == pytest.approx(1.0)


def test_check_tune_reports_bars_notes_and_seconds():
    check = music.check_tune(SCALE)
    assert (check.valid, check.bars, check.notes, check.error) == (True, 2, 8, "")
    assert check.seconds == pytest.approx(4.0)


@pytest.mark.parametrize("broken", ["", "X:1\nT:x\nK:C\n", "X:1\nK:C\nzzz|", "K:\n)))(((", "X:1\nL:1/8\nK:C\n\"\"\"|"])
def test_check_tune_never_raises_on_broken_text(broken):
    check = music.check_tune(broken)
    assert not check.valid
    assert check.error


def test_piano_roll_draws_one_bar_per_note():
    figure = music.piano_roll(SCALE)
    axis = figure.axes[0]
    assert len(axis.patches) == 8
    assert axis.get_title() == "Scale"
    matplotlib.pyplot.close(figure)


def _tune(body: str, unit: str = "1/4") -> str:
    return f"X:1\nM:4/4\nL:{unit}\nK:C\n{body}"


def test_a_tie_between_two_different_pitches_plays_both_notes():
    notes = music.tune_notes(_tune("G3-A|c4|"))
    assert notes.pitch.tolist() == [67, 69, 72]
    assert notes.start.tolist() == [0, 3, 4] and notes.duration.tolist() == [3, 1, 4]


def test_a_tie_between_equal_pitches_is_one_longer_note_even_across_a_bar_line():
    notes = music.tune_notes(_tune("G3-G|-G4|c4|"))
    assert notes.pitch.tolist() == [67, 72]
    assert notes.duration.tolist() == [8, 4]


@pytest.mark.parametrize(("body", "played"), [
    ("C4|D4:|E4|F4:|", "CDCDEFEF"),            # a second :| goes back to the bar after the first
    ("|:C4|E4::D4|F4:|", "CECEDFDF"),
    ("|:C4|[1 D4:|[2 E4|]", "CDCE"),           # first and second endings
    ("|:C4|1 D4:|2 E4|]", "CDCE"),
    ("|:C4|[1 D4|E4:|[2 F4|G4|]", "CDECFG"),   # a first ending two bars long
    ("|:C4|[1 D4:|[2 E4:|[3 F4|]", "CDCECF"),  # three endings
    ("C4|C4:|D4|D4||E4|E4:|", "CCCCDDEEEE"),   # after a repeat, a double bar starts the next section
    ("C4|C4|D4|D4||E4|E4:|", "CCDDEECCDDEE"),  # before any repeat it does not
    ("|:C4|D4|E4|", "CDE"),                    # a start sign that is never closed plays once
])
def test_repeats_and_endings_play_in_abc2midis_order(body, played):
    # music21 leaves a tune of one-bar sections without bars, so every section here has two at least.
    names = {60: "C", 62: "D", 64: "E", 65: "F", 67: "G"}
    assert "".join(names[pitch] for pitch in music.tune_notes(_tune(body)).pitch) == played


def test_without_expanding_repeats_every_bar_plays_once():
    assert music.tune_notes(_tune("|:C4|[1 D4:|[2 E4|]"), expand_repeats=False).pitch.tolist() == [60, 62, 64]


def test_a_section_closed_by_many_end_repeats_plays_each_part_twice_not_more(corpus):
    # "Old Nora": six :| and no |:. abc2midi plays 522 notes in 144.5 s; music21's expandRepeats gave 5,270.
    old_nora = next(tune for tune in corpus if music.tune_title(tune) == "Old Nora")
    notes = music.tune_notes(old_nora)
    assert len(notes.pitch) == 522
    assert notes.length_seconds == pytest.approx(144.5)


def test_grace_notes_sound_before_their_note_and_take_their_time_from_it():
    notes = music.tune_notes(_tune("{ga}c4|C4|"))
    assert notes.pitch.tolist() == [79, 81, 72, 60]
    assert notes.start.tolist() == [0, 0.25, 0.5, 4]
    assert notes.duration.tolist() == [0.25, 0.25, 3.5, 4]


def test_fermata_and_annotations_do_not_change_the_notes():
    # music21 drops the note after H and reads the annotation ">" as a broken-rhythm mark.
    notes = music.tune_notes(_tune('HG2 ">"A2|"^fine"c4|'))
    assert notes.pitch.tolist() == [67, 69, 72]
    assert notes.duration.tolist() == [2, 2, 4]


def test_write_midi_holds_the_notes_that_are_played(tmp_path):
    from abc2midi_reference import read_midi

    tune = "X:1\nM:4/4\nL:1/4\nQ:1/4=60\nK:C\n|:G3-A|[1 c4:|[2 C4|]"
    summary = read_midi(music.write_midi(tune, tmp_path / "tune.mid"))
    assert summary.notes == 6          # G A c, then G A C: both notes of the tie, both endings
    assert summary.seconds == pytest.approx(16.0)


def test_midi_bytes_rejects_bad_arguments():
    with pytest.raises(TypeError, match="TuneNotes"):
        music.midi_bytes("X:1\nK:C\nC|")
    with pytest.raises(ValueError, match="velocity"):
        music.midi_bytes(music.tune_notes(SCALE), velocity=0)


def test_midi_export_works_on_tunes_with_a_shared_time_signature(corpus, tmp_path):
    # Tunes 1, 6, 9 and 17 of O'Neill's put one TimeSignature object into two measures.
    for index in (0, 5, 8, 16):
        path = music.write_midi(corpus[index], tmp_path / f"tune{index}.mid")
        assert path.read_bytes()[:4] == b"MThd"


def test_midi_export_of_a_broken_tune_raises_value_error(tmp_path):
    with pytest.raises(ValueError):
        music.write_midi("X:1\nK:C\nzzz|", tmp_path / "broken.mid")


REEL = "X:5\nT:The Reel\nM:4/4\nL:1/8\nK:D\n|:\"D\"DFAd fdAF|GBdg fdAF|DFAd fdAF|EFGA B2A2:|"
JIG = "X:6\nT:The Jig\nM:6/8\nL:1/8\nK:G\n|:GAB cBA|BAG ABc|dcB AGF|G3 G3:|"


def test_note_names_keep_pitch_and_accidentals_but_not_chords_durations_or_decorations():
    tune = "X:1\nT:t\nK:C\n\"Am\"^c2 !trill!_B, d'3/2 [K:G] =f % a comment with A B C\n"
    assert music.note_names(tune) == ["^c", "_B,", "d'", "=f"]


def test_melody_shingles_are_the_same_in_another_key_and_octave_and_note_shingles_are_not():
    a_fifth_lower = JIG.replace("K:G", "K:C").replace("GAB cBA|BAG ABc|dcB AGF|G3 G3", "CDE FED|EDC DEF|GFE DC=B,|C3 C3")
    assert music.melody_shingles(a_fifth_lower) == music.melody_shingles(JIG)
    assert not music.note_shingles(a_fifth_lower) & music.note_shingles(JIG)
    assert music.melody_shingles(JIG) != music.melody_shingles(REEL)
    assert (0, 1, 1) in music.melody_shingles("X:1\nK:C\nC C D E", size=4)


def test_a_tune_whose_copy_in_another_key_trains_is_never_held_out():
    reel_in_g = REEL.replace("K:D", "K:G").replace('"D"DFAd fdAF|GBdg fdAF|DFAd fdAF|EFGA B2A2',
                                                  '"G"G,B,DG BGDB,|CEGc BGDB,|G,B,DG BGDB,|A,B,CD E2D2')
    for seed in range(5):
        held_out, training = music.split_held_out([REEL, JIG, reel_in_g], 1, seed=seed)
        assert held_out == [JIG] and training == [REEL, reel_in_g]


def test_deduplicate_drops_a_repeated_file_entry_and_a_renumbered_copy_but_keeps_new_tunes():
    renumbered = REEL.replace("X:5", "X:99").replace("The Reel", "Another Name").replace("A2:|", "AF:|")
    kept, dropped = music.deduplicate([REEL, JIG, REEL, renumbered])
    assert (kept, dropped) == ([REEL, JIG], 2)


def test_the_oneill_corpus_has_overlapping_entries_and_deduplicating_leaves_one_of_each(corpus):
    kept, dropped = music.deduplicate(corpus)
    assert dropped > 0 and len(kept) + dropped == len(corpus)
    headers = [(music.tune_header(tune, "X"), music.tune_title(tune)) for tune in kept]
    assert len(set(headers)) == len(headers)


def test_no_held_out_tune_shares_half_its_notes_with_a_training_tune_in_any_key_ryans_included(corpus):
    tunes, _ = music.deduplicate(corpus)
    held_out, training = music.split_held_out(tunes, 100, seed=0,
                                              extra_training=music.load_collection("ryansMammoth"))
    assert len(held_out) == 100 and len(training) == len(tunes) - 100 + 1059
    for shingles_of in (music.note_shingles, music.melody_shingles):
        index = music._ShingleIndex()
        for number, tune in enumerate(training):
            index.add(number, shingles_of(tune))
        shares = [index.largest_share(shingles_of(tune)) for tune in held_out]
        assert max(shares) < music.HELD_OUT_MAX_SHARE, (
            f"a held-out tune shares {max(shares):.0%} of its {shingles_of.__name__} with a training tune")
    assert held_out == music.split_held_out(tunes, 100, seed=0,
                                            extra_training=music.load_collection("ryansMammoth"))[0]


def test_split_held_out_refuses_more_tunes_than_qualify():
    with pytest.raises(ValueError, match="ask for at most"):
        music.split_held_out([REEL, REEL.replace("X:5", "X:7")], 1)
    with pytest.raises(ValueError, match="between 0 and the 2 tunes"):
        music.split_held_out([REEL, JIG], 3)


def test_tune_form_counts_inner_bars_of_the_wrong_length_but_allows_pickups_and_section_ends():
    tune = "X:1\nT:t\nM:4/4\nL:1/4\nK:G\nD|GABc|dcB|ABcd|GABc|d3:|\n"
    form = music.tune_form(tune)
    # The pickup D and the closing d3 (its complement) are not inner bars; dcB is one beat short.
    assert (form.inner_bars, form.inner_bars_right) == (4, 3)
    assert form.bars_right_share == pytest.approx(3 / 4)


def test_tune_form_reads_the_last_note_against_the_tonic_and_notes_against_the_mode():
    dorian = music.tune_form("X:1\nT:t\nM:4/4\nL:1/4\nK:ADor\nABcd|efga|gfed|cBA2|]\n")
    assert dorian.ends_on_tonic and dorian.in_key_share == 1.0
    sharp = music.tune_form("X:1\nT:t\nM:4/4\nL:1/4\nK:C\nCDEF|^FGAB|c4|B4|]\n")
    assert not sharp.ends_on_tonic
    assert sharp.in_key_share == pytest.approx(9 / 10)


def test_tune_form_without_a_metre_is_a_value_error():
    with pytest.raises(ValueError, match="no metre"):
        music.tune_form("X:1\nT:t\nL:1/4\nK:C\nCDEF GABc\n")


def test_summarize_forms_pools_bars_counts_unreadable_tunes_and_plots_one_bar_per_set():
    good = "X:1\nT:t\nM:4/4\nL:1/4\nK:C\nC|CDEF|GABc|dcBA|G3:|\n"
    short = "X:2\nT:t\nM:4/4\nL:1/4\nK:C\nC|CDEF|GAB|dcBA|G3:|\n"
    summary = music.summarize_forms([good, short, "not a tune"])
    assert (summary.tunes, summary.unreadable) == (2, 1)
    assert summary.bars_right_share == pytest.approx(5 / 6)
    assert summary.every_bar_right_share == 0.5 and summary.tonic_ending_share == 0.0
    figure = music.plot_tune_forms({"real": summary, "generated": summary})
    assert len(figure.axes[0].patches) == 8


def test_a_set_without_readable_tunes_is_plotted_as_not_measured_not_as_zero_percent():
    summary = music.summarize_forms(["X:2\nT:t\nM:4/4\nL:1/4\nK:C\nC|CDEF|GAB|dcBA|G3:|\n"])
    nothing = music.summarize_forms(["not a tune"])
    figure = music.plot_tune_forms({"real": summary, "generated": nothing})
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    bar_labels = [text.get_text() for text in figure.axes[0].texts]
    assert labels == ["real (1 tunes)", "generated (no readable tunes: not measured)"]
    assert len(bar_labels) == 4


def test_parsing_a_tune_prints_nothing_on_stderr_even_when_music21_warns(capfd):
    tune = 'X:1\nT:Test\nM:6/8\nL:1/8\nK:Edor\n"SEGUE"ALD UGLOW GUSE\n| e>ae e2e | dcB ABc |\n'
    music.parse_tune(tune)
    assert capfd.readouterr().err == ""
