"""Tests of labs.runtime: native start-up logs filtered, nothing else hidden."""

from __future__ import annotations

import os

from labs.runtime import native_logs_filtered


def test_native_noise_is_dropped_and_every_other_stderr_line_is_kept(capfd):
    with native_logs_filtered(("cudart_stub.cc", "failed call to cuInit")):
        os.write(2, b"I0000 cudart_stub.cc:31] Could not find cuda drivers on your machine\n")
        os.write(2, b"E0000 real trouble: the model file is corrupt\n")
        os.write(2, b"E0000 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n")
    captured = capfd.readouterr()
    assert captured.err.splitlines() == ["E0000 real trouble: the model file is corrupt"]


def test_stderr_is_restored_after_the_block_even_when_it_raises(capfd):
    try:
        with native_logs_filtered(("noise",)):
            raise KeyError("inside")
    except KeyError:
        pass
    os.write(2, b"noise after the block is shown\n")
    assert capfd.readouterr().err == "noise after the block is shown\n"
