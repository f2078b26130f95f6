"""Turn ABC tunes into sound with NumPy alone: waveform, 16-bit WAV, audio widget.

MIDI export is :func:`labs.music.write_midi`.

The path is ABC text -> notes (music21, see :func:`labs.music.tune_notes`) -> waveform.
The timbre is a plucked string made by additive synthesis: each note is a sum of
harmonics whose amplitudes fall as 1/k and whose decay gets faster with the harmonic
number k, so that a note starts bright and mellows as it rings, as a real string does
(higher partials lose energy faster; see e.g. Fletcher and Rossing, *The Physics of
Musical Instruments*, ch. 2). No system tools (FluidSynth, TiMidity) are needed.

music21 is imported inside the functions that need it.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from labs.music import TuneNotes, tune_notes

SAMPLE_RATE = 22050
"""Default sample rate in Hz."""

_HARMONICS = np.arange(1, 7)
_ATTACK_SECONDS = 0.004
_RELEASE_SECONDS = 0.06


def _note_wave(pitch: int, num_samples: int, sample_rate: int) -> np.ndarray:
    """One plucked note of ``num_samples`` samples (float64, peak about 1).

    The note rings for its written length, then fades out over the release time.
    """
    frequency = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    harmonics = _HARMONICS[frequency * _HARMONICS < 0.45 * sample_rate]
    time = np.arange(num_samples) / sample_rate
    ring_seconds = 0.9 * np.sqrt(220.0 / frequency)
    decay_rates = (1.0 + 0.5 * (harmonics - 1) ** 1.5) / ring_seconds
    amplitudes = 1.0 / harmonics
    partials = np.exp(-np.outer(decay_rates, time)) * np.sin(2.0 * np.pi * frequency * np.outer(harmonics, time))
    note = amplitudes @ partials / amplitudes.sum()
    attack = min(num_samples, max(1, int(_ATTACK_SECONDS * sample_rate)))
    note[:attack] *= np.linspace(0.0, 1.0, attack)
    release = min(num_samples, max(1, int(_RELEASE_SECONDS * sample_rate)))
    note[-release:] *= 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, release)))
    return note


def synthesize(notes: TuneNotes, sample_rate: int = SAMPLE_RATE, tempo_scale: float = 1.0) -> np.ndarray:
    """Render notes to a mono waveform.

    Args:
        notes: the tune's notes (onsets and durations in quarter notes, MIDI pitches).
        sample_rate: samples per second (Hz), at least 8000.
        tempo_scale: play faster (> 1) or slower (< 1) than the tune's tempo.

    Returns:
        float32 array of shape (samples,), values in [-1, 1]; its length is the tune's
        length in seconds (divided by ``tempo_scale``) plus the last note's release.
    """
    if not isinstance(notes, TuneNotes):
        raise TypeError(f"notes must be a labs.music.TuneNotes (from tune_notes), got {type(notes).__name__}.")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz, got {sample_rate}; 22050 is a good choice.")
    if tempo_scale <= 0:
        raise ValueError(f"tempo_scale must be positive, got {tempo_scale}; 1.0 plays the written tempo.")
    seconds_per_quarter = notes.seconds_per_quarter / tempo_scale
    starts = np.round(notes.start * seconds_per_quarter * sample_rate).astype(int)
    release = int(_RELEASE_SECONDS * sample_rate)
    lengths = np.round(notes.duration * seconds_per_quarter * sample_rate).astype(int) + release
    total = int(np.max(starts + lengths)) if len(starts) else 0
    waveform = np.zeros(total, dtype=np.float64)
    cache: dict[tuple[int, int], np.ndarray] = {}
    for start, length, pitch in zip(starts, lengths, notes.pitch):
        key = (int(pitch), int(length))
        if key not in cache:
            cache[key] = _note_wave(int(pitch), int(length), sample_rate)
        waveform[start : start + length] += cache[key]
    peak = np.max(np.abs(waveform)) if total else 0.0
    if peak > 0:
        waveform *= 0.9 / peak
    return waveform.astype(np.float32)


def render_tune(tune: str, sample_rate: int = SAMPLE_RATE, tempo_scale: float = 1.0) -> np.ndarray:
    """Render ABC text to a waveform (see :func:`synthesize`), repeats played out.

    Raises:
        ValueError: if music21 cannot parse the tune or it has no notes.
    """
    return synthesize(tune_notes(tune), sample_rate=sample_rate, tempo_scale=tempo_scale)


@dataclass(frozen=True)
class Rendering:
    """Outcome of rendering one tune in :func:`render_tunes`."""

    waveform: np.ndarray | None
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when the tune rendered."""
        return self.waveform is not None


def render_tunes(tunes: Sequence[str], sample_rate: int = SAMPLE_RATE, progress: bool = True) -> list[Rendering]:
    """Render many tunes; a tune that fails gives a :class:`Rendering` with its error.

    One bad tune never stops the others. With ``progress`` a tqdm bar is shown.
    """
    from tqdm.auto import tqdm

    results = []
    for tune in tqdm(tunes, desc="rendering", disable=not progress):
        try:
            results.append(Rendering(render_tune(tune, sample_rate=sample_rate)))
        except Exception as error:  # report and carry on with the next tune
            results.append(Rendering(None, error=f"{type(error).__name__}: {error}"))
    return results


def wav_bytes(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Encode a mono waveform (float values in [-1, 1], shape (samples,)) as 16-bit PCM WAV bytes."""
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise ValueError(f"waveform must be mono with shape (samples,), got shape {waveform.shape}.")
    pcm = np.round(np.clip(waveform, -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(int(sample_rate))
        writer.writeframes(pcm.tobytes())
    return buffer.getvalue()


def play(tune: str | np.ndarray, sample_rate: int = SAMPLE_RATE):
    """Return an ``IPython.display.Audio`` player for ABC text or a waveform.

    Raises:
        ValueError: if ABC text does not parse (see :func:`render_tune`).
    """
    from IPython.display import Audio

    waveform = render_tune(tune, sample_rate=sample_rate) if isinstance(tune, str) else tune
    return Audio(data=wav_bytes(waveform, sample_rate))
