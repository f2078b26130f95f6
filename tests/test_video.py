"""Tests of labs.video: MP4 with imageio-ffmpeg's own ffmpeg, GIF fallback, inline HTML."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from labs import rl, video


def moving_square(num_frames: int = 12, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """Frames of a white square moving right on black, (height, width, 3) uint8 each."""
    frames = []
    for index in range(num_frames):
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        frame[10:20, 2 * index : 2 * index + 10] = 255
        frames.append(frame)
    return frames


def test_frames_encode_to_an_mp4_that_decodes_to_the_same_number_of_frames(tmp_path):
    import imageio.v2 as imageio

    clip = video.encode_video(moving_square(12), fps=10)
    assert clip.format == "mp4"
    assert clip.data[4:8] == b"ftyp"
    path = clip.save(tmp_path / "clip.anything")
    assert path.suffix == ".mp4"
    reader = imageio.get_reader(path, "ffmpeg")
    decoded = [frame for frame in reader]
    reader.close()
    assert len(decoded) == 12
    assert decoded[0].shape == (48, 64, 3)


def test_odd_sized_frames_are_padded_for_h264():
    clip = video.encode_video(moving_square(3, height=45, width=63), fps=5)
    assert clip.format == "mp4"


def test_failed_mp4_encoding_falls_back_to_gif_and_warns(monkeypatch):
    def broken(frames, fps):
        raise OSError("ffmpeg binary not found")

    monkeypatch.setattr(video, "encode_mp4", broken)
    with pytest.warns(RuntimeWarning, match="MP4 encoding failed .*GIF"):
        clip = video.encode_video(moving_square(5), fps=10)
    assert clip.format == "gif"
    assert clip.data[:6] == b"GIF89a"
    assert clip.html().startswith("<img")


def test_html_embeds_the_video_bytes_as_base64():
    clip = video.Video(b"\x00\x01video", "mp4")
    html = clip.html(width=200)
    assert "<video" in html and 'width="200"' in html
    assert base64.b64encode(b"\x00\x01video").decode() in html
    assert clip._repr_html_() == clip.html()


def test_no_frames_is_a_clear_error():
    with pytest.raises(ValueError, match="no frames"):
        video.encode_video([])


def test_frames_of_different_sizes_are_a_clear_error():
    with pytest.raises(ValueError, match="same shape"):
        video.encode_video([np.zeros((4, 4, 3), np.uint8), np.zeros((6, 4, 3), np.uint8)])


def test_grayscale_frames_are_rejected():
    with pytest.raises(ValueError, match="RGB"):
        video.encode_video([np.zeros((4, 4), np.uint8)] * 2)


def test_record_episode_keeps_one_rendered_frame_per_step():
    env = rl.make_env("CartPole-v1", render_mode="rgb_array")
    frames, total = video.record_episode(env, lambda observation: 0, max_steps=8, seed=0)
    env.close()
    assert len(frames) == 9  # the first frame plus one per step
    assert frames[0].shape == (400, 600, 3) and frames[0].dtype == np.uint8
    assert total == 8.0


def test_record_episode_ends_its_progress_bar_at_100_percent_when_the_episode_ends_early(capsys):
    env = rl.make_env("CartPole-v1", render_mode="rgb_array")
    frames, total = video.record_episode(env, lambda observation: 0, max_steps=200, seed=0)  # pushing left: falls fast
    env.close()
    assert total < 200
    assert re.findall(r"(\d+)%\|", capsys.readouterr().err)[-1] == "100"


def test_record_episode_needs_an_rgb_array_environment():
    env = rl.make_env("CartPole-v1")
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        video.record_episode(env, lambda observation: 0)
    env.close()
