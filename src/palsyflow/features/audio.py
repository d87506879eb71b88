"""Audio decoding with PyAV: any container with an audio stream -> mono float32."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


class AudioError(RuntimeError):
    """A file has no decodable audio."""


def load_audio(path: Path | str, sr: int = 16000) -> np.ndarray:
    """Decode the first audio stream of a file to mono float32 at ``sr`` Hz.

    Works for audio files (.wav, .flac, .mp3 ...) and for the audio track of video
    containers (.mpg, .mp4 ...). Each channel is resampled to ``sr`` by FFmpeg's
    resampler (libswresample) and the channels are then averaged (mono = mean).

    Parameters
    ----------
    path : path-like
        Media file.
    sr : int
        Target sampling rate, Hz (> 0).

    Returns
    -------
    ndarray, shape (n_samples,), float32
        Samples with full scale = 1 (lossy codecs such as MPEG audio can overshoot
        slightly). Empty when the stream has no samples.

    Raises
    ------
    AudioError
        ``"{path}: no audio stream"`` when the container has no audio stream, or
        when it cannot be opened/decoded (message names the path and the cause).
    ValueError
        If ``sr`` is not positive.
    """
    if sr <= 0:
        raise ValueError(f"sr must be positive, got {sr}")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioError(f"{path}: cannot open ({exc})") from exc
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path}: no audio stream")
        stream = container.streams.audio[0]
        # resample every channel to planar float, then average channels ourselves
        # (FFmpeg's own stereo->mono downmix sums at -3 dB instead of averaging)
        resampler = av.AudioResampler(format="fltp", rate=int(sr))
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                frame.pts = None  # let the resampler keep its own timeline
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().mean(axis=0))
            for out in resampler.resample(None):  # flush
                chunks.append(out.to_ndarray().mean(axis=0))
        except av.error.FFmpegError as exc:
            raise AudioError(f"{path}: cannot decode audio ({exc})") from exc
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)
