"""Videos of episodes, shown inline in Jupyter and Colab.

Frames come from environments created with ``render_mode="rgb_array"``. They are
encoded to MP4 (H.264) with the ffmpeg binary that the imageio-ffmpeg wheel ships,
so no system ffmpeg and no display server (Xvfb) are needed. If MP4 encoding fails,
the frames are written as an animated GIF instead and a warning says so.
"""

from __future__ import annotations

import base64
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


@dataclass(frozen=True)
class Video:
    """An encoded video: its bytes and format (``"mp4"`` or ``"gif"``).

    In a notebook, a ``Video`` as the last expression of a cell plays inline.
    """

    data: bytes
    format: str

    def html(self, width: int = 320) -> str:
        """HTML that plays the video, with the bytes embedded as base64 (works in Colab too)."""
        encoded = base64.b64encode(self.data).decode("ascii")
        if self.format == "mp4":
            return (
                f'<video width="{width}" controls autoplay loop muted playsinline>'
                f'<source src="data:video/mp4;base64,{encoded}" type="video/mp4"></video>'
            )
        return f'<img width="{width}" src="data:image/gif;base64,{encoded}"/>'

    def _repr_html_(self) -> str:
        return self.html()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the video to ``path``; the suffix is replaced by the real format's."""
        path = Path(path).with_suffix(f".{self.format}")
        path.write_bytes(self.data)
        return path


def _as_frames(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Stack frames into (T, H, W, 3) uint8, checking they are RGB images of one size."""
    if len(frames) == 0:
        raise ValueError("There are no frames to encode; play at least one step with render_mode='rgb_array'.")
    try:
        stacked = np.stack([np.asarray(frame) for frame in frames])
    except ValueError:
        raise ValueError("All frames must have the same shape (H, W, 3); render them from one environment.") from None
    if stacked.ndim != 4 or stacked.shape[-1] != 3:
        raise ValueError(f"Frames must be RGB images (H, W, 3), got frames of shape {stacked.shape[1:]}.")
    return stacked.astype(np.uint8, copy=False)


def _pad_to_even(frames: np.ndarray) -> np.ndarray:
    """H.264 with yuv420p needs an even width and height: pad one black row/column if needed."""
    _, height, width, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)))


def encode_mp4(frames: np.ndarray, fps: int) -> bytes:
    """Encode (T, H, W, 3) uint8 frames as H.264 MP4 with imageio-ffmpeg's bundled ffmpeg."""
    import imageio_ffmpeg

    frames = _pad_to_even(frames)
    _, height, width, _ = frames.shape
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "episode.mp4")
        writer = imageio_ffmpeg.write_frames(
            path, (width, height), fps=fps, codec="libx264", pix_fmt_out="yuv420p", macro_block_size=1,
            output_params=["-movflags", "+faststart"], ffmpeg_log_level="error",
        )
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        return Path(path).read_bytes()


def encode_gif(frames: np.ndarray, fps: int) -> bytes:
    """Encode (T, H, W, 3) uint8 frames as an animated GIF that loops forever."""
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", frames, extension=".gif", duration=1000.0 / fps, loop=0)


def encode_video(frames: Sequence[np.ndarray], fps: int = 30) -> Video:
    """Encode RGB frames (each (H, W, 3) uint8) as MP4, or as GIF with a warning if MP4 fails."""
    if not isinstance(fps, int) or fps < 1:
        raise ValueError(f"fps must be a positive int, got {fps!r}.")
    stacked = _as_frames(frames)
    try:
        return Video(encode_mp4(stacked, fps), "mp4")
    except Exception as error:  # any encoder failure: a GIF still shows the episode
        warnings.warn(
            f"MP4 encoding failed ({type(error).__name__}: {error}); showing an animated GIF instead.",
            RuntimeWarning,
            stacklevel=2,
        )
        return Video(encode_gif(stacked, fps), "gif")


def record_episode(
    env, act: Callable[[np.ndarray], int], max_steps: int = 1000, seed: int | None = None, every: int = 1
) -> tuple[list[np.ndarray], float]:
    """Play one episode and keep its rendered frames.

    Args:
        env: an environment made with ``render_mode="rgb_array"``.
        act: one observation -> one action for ``env.step``.
        max_steps: stop after this many steps.
        seed: seed of the reset.
        every: keep one frame in ``every`` (shorter videos for long episodes).
    Returns:
        (frames, total_reward): a list of (H, W, 3) uint8 frames and the episode's return.
    """
    from tqdm.auto import tqdm

    if getattr(env, "render_mode", None) != "rgb_array":
        raise ValueError("The environment must be created with render_mode='rgb_array' to record a video.")
    observation, _ = env.reset(seed=seed)
    frames = [env.render()]
    total_reward = 0.0
    with tqdm(total=max_steps, desc="recording", unit="step", leave=False) as bar:
        for step in range(max_steps):
            observation, reward, terminated, truncated, _ = env.step(act(observation))
            total_reward += float(reward)
            bar.update()
            if (step + 1) % every == 0:
                frames.append(env.render())
            if terminated or truncated:
                break
        # An episode that ends early is complete: its bar ends at 100%, not at, say, 90%
        # (a saved notebook keeps the bar's last text even with leave=False).
        bar.total = bar.n
        bar.refresh()
    return frames, total_reward


def show_video(frames: Sequence[np.ndarray], fps: int = 30, width: int = 320):
    """Display frames inline (MP4, or GIF if MP4 fails) and return the :class:`Video`."""
    from IPython.display import HTML, display

    video = encode_video(frames, fps=fps)
    display(HTML(video.html(width=width)))
    return video
