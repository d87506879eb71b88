"""The speech phantom: real healthy speech degraded in known, increasing steps toward dysarthric speech.

Like the face phantom (:mod:`palsyflow.phantom`), it gives the speech measures a
dose-response test on real recordings: :func:`degrade` turns a healthy recording
into a copy with a known ``severity`` in [0, 1] (0 returns the input unchanged).
The deviant speech dimensions it imitates are those Darley, Aronson & Brown found
most common across the dysarthrias: slow rate, imprecise consonants, distorted
vowels, monopitch and breathy, harsh voice (Darley, Aronson & Brown 1969,
"Differential diagnostic patterns of dysarthria", J Speech Hear Res 12:246-269,
doi:10.1044/jshr.1202.246). Each component's strength is a stated linear function
of the severity ``s`` (:class:`PhantomStrength`, :func:`component_strengths`):

1. **Slower rate** and **prosody** (one Praat PSOLA resynthesis, Moulines &
   Charpentier 1990, doi:10.1016/0167-6393(90)90021-Z, through a Praat
   ``Manipulation``): the duration tier stretches time by ``1 + rate_stretch * s``;
   the pitch tier is rebuilt with one point per glottal period whose f0 is
   (i) compressed toward the median in semitones by ``1 - monopitch * s``
   (reduced pitch variation, the monopitch of hypokinetic dysarthria) and
   (ii) multiplied by ``1 + jitter_sd * s * e`` with ``e`` standard normal
   independently per period (cycle-to-cycle frequency perturbation: jitter).
2. **Reduced articulatory precision** (short-time Fourier transform, Hann
   window ``stft_ms``, hop a quarter of it, resynthesis with the original phase):
   the magnitude is smeared across time by a centred moving average of
   ``smear_ms * s`` milliseconds, which blurs bursts, frication onsets and
   formant transitions (imprecise consonants, prolonged transitions), and
   energy above ``hf_start_hz`` is attenuated by up to ``hf_atten_db * s`` dB,
   reaching it at ``hf_full_hz`` (weaker fricatives and bursts). Temporal
   smearing of the spectrogram as a model of reduced precision follows the
   envelope-smearing simulations of Drullman, Festen & Plomp 1994
   (doi:10.1121/1.408467).
3. **Breathier voice**: aspiration noise, Gaussian noise high-passed at
   ``breath_hp_hz`` (aspiration noise of a breathy voice is strongest above
   about 1-2 kHz; Klatt & Klatt 1990, doi:10.1121/1.398894), whose amplitude
   follows the speech's own RMS envelope (20 ms) scaled by ``breath_ratio * s``,
   is added, so it sounds with the voice and leaves the pauses quiet; it lowers
   the harmonics-to-noise ratio and the cepstral peak prominence. Before it, each
   glottal period (Praat ``To PointProcess (periodic, cc)`` on the resynthesis) is
   scaled by ``1 + shimmer_sd * s * e``, ``e`` standard normal per period
   (cycle-to-cycle amplitude perturbation: shimmer; the overlap-add resynthesis
   itself smooths the period amplitudes).

4. **Prolonged, inappropriate pauses** (prolonged intervals and inappropriate
   silences, Darley, Aronson & Brown 1969): at the ``n_pauses`` deepest dips of
   the 20 ms RMS envelope inside the speech (at least ``pause_spacing_s`` apart and
   from the ends), a gap of ``pause_s * s`` seconds of room tone is inserted
   (Gaussian noise at the level of the recording's quietest 5 % of 20 ms frames),
   so the speech rate falls further and the pause measures rise.

The output is rescaled only if its peak would exceed ``0.99`` full scale.
Randomness (jitter, noise, and the seed of Praat's own generator during the
resynthesis) comes from ``numpy.random.default_rng(seed)``: the same
input, severity and seed give the same output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import parselmouth
from parselmouth.praat import call
from scipy import signal

__all__ = ["SEVERITIES", "PhantomStrength", "DEFAULT_STRENGTH", "component_strengths", "degrade"]

#: The phantom's severity steps (0 = the healthy recording itself).
SEVERITIES: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)

# Praat pitch range of the PSOLA analysis (its ``To Manipulation`` defaults).
_PITCH_FLOOR_HZ = 75.0
_PITCH_CEILING_HZ = 600.0
_PEAK_LIMIT = 0.99


@dataclass(frozen=True)
class PhantomStrength:
    """How strongly each component acts at severity 1 (every effect is linear in the severity).

    Attributes
    ----------
    rate_stretch : float
        Duration factor minus 1 at severity 1 (0.6: the speech takes 1.6 times as
        long, rate falls to 1/1.6 = 62 %).
    monopitch : float
        Fraction of the f0 excursion (semitones re the median) removed at severity 1.
    jitter_sd : float
        SD of the independent per-period relative f0 perturbation at severity 1
        (fraction). The overlap-add resynthesis itself regularises
        the periods a little, so measured local jitter rises by less than this.
    smear_ms : float
        Length of the moving average of the STFT magnitude across time at severity 1, ms.
    hf_atten_db : float
        Attenuation above ``hf_full_hz`` at severity 1, dB (ramps in linearly in
        frequency from ``hf_start_hz``).
    hf_start_hz, hf_full_hz : float
        Start and end of the attenuation ramp, Hz.
    breath_ratio : float
        Aspiration-noise RMS over the speech's RMS envelope at severity 1.
    breath_hp_hz : float
        High-pass corner of the aspiration noise (4th-order Butterworth), Hz.
    shimmer_sd : float
        SD of the independent per-period relative amplitude perturbation at severity 1.
    stft_ms : float
        STFT window length, ms.
    pause_s : float
        Length of each inserted pause at severity 1, s.
    n_pauses : int
        Most pauses inserted (fewer when the speech has fewer dips).
    pause_spacing_s : float
        Least distance between inserted pauses and from the speech's ends, s.
    """

    rate_stretch: float = 0.6
    monopitch: float = 0.6
    jitter_sd: float = 0.03
    smear_ms: float = 60.0
    hf_atten_db: float = 18.0
    hf_start_hz: float = 2000.0
    hf_full_hz: float = 5000.0
    breath_ratio: float = 0.5
    breath_hp_hz: float = 1000.0
    shimmer_sd: float = 0.08
    stft_ms: float = 32.0
    pause_s: float = 0.6
    n_pauses: int = 2
    pause_spacing_s: float = 0.3


#: The defaults used by the benchmarks.
DEFAULT_STRENGTH = PhantomStrength()


def component_strengths(severity: float, strength: PhantomStrength = DEFAULT_STRENGTH) -> dict[str, float]:
    """Each component's setting at ``severity`` (what :func:`degrade` applies).

    Parameters
    ----------
    severity : float
        In [0, 1].
    strength : PhantomStrength
        Strengths at severity 1.

    Returns
    -------
    dict
        ``duration_factor`` (output/input duration), ``f0_excursion_kept``
        (fraction of the f0 excursion in semitones kept), ``jitter_sd`` (fraction),
        ``smear_ms``, ``hf_atten_db``, ``breath_ratio``, ``shimmer_sd``, ``pause_s`` (each inserted
        pause, s), plus the fixed settings of ``strength``.

    Raises
    ------
    ValueError
        If ``severity`` is outside [0, 1].
    """
    s = _check_severity(severity)
    fixed = asdict(strength)
    return {
        **{k: fixed[k] for k in ("hf_start_hz", "hf_full_hz", "breath_hp_hz", "stft_ms", "n_pauses", "pause_spacing_s")},
        "severity": s,
        "duration_factor": 1.0 + strength.rate_stretch * s,
        "f0_excursion_kept": 1.0 - strength.monopitch * s,
        "jitter_sd": strength.jitter_sd * s,
        "smear_ms": strength.smear_ms * s,
        "hf_atten_db": strength.hf_atten_db * s,
        "breath_ratio": strength.breath_ratio * s,
        "shimmer_sd": strength.shimmer_sd * s,
        "pause_s": strength.pause_s * s,
    }


def _check_severity(severity: float) -> float:
    s = float(severity)
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"severity must be in [0, 1], got {severity}")
    return s


def degrade(
    y: np.ndarray,
    sr: int,
    severity: float,
    *,
    seed: int = 0,
    strength: PhantomStrength = DEFAULT_STRENGTH,
) -> np.ndarray:
    """Degrade healthy speech toward dysarthric speech by a known ``severity``.

    The components of the module docstring are applied in order: PSOLA (slower
    rate, monopitch, jitter) on the clean signal, then the STFT precision loss,
    then the per-period amplitude perturbation (after the smearing, which would
    average it out) and the aspiration noise (so its level relative to the speech is the stated
    one), then the pauses.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Mono speech, float, full scale 1.
    sr : int
        Sampling rate, Hz.
    severity : float
        In [0, 1]; 0 returns a float32 copy of ``y``.
    seed : int
        Seed of the jitter and the noise.
    strength : PhantomStrength
        Component strengths at severity 1.

    Returns
    -------
    ndarray, shape (m,), float32
        The phantom, ``m`` about ``n * duration_factor + k * pause_s * sr`` with
        ``k <= n_pauses`` inserted pauses (:func:`component_strengths`).

    Raises
    ------
    ValueError
        If ``y`` is not one-dimensional, ``sr`` is not positive or ``severity`` is
        outside [0, 1].
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"y must have shape (n,), got {y.shape}")
    if sr <= 0:
        raise ValueError(f"sr must be positive, got {sr}")
    c = component_strengths(severity, strength)
    if c["severity"] == 0.0 or y.size == 0:
        return y.astype(np.float32)
    rng = np.random.default_rng(seed)
    out = _psola(y, sr, c, rng)
    out = _imprecise(out, sr, c)
    out = _shimmer(out, sr, c, rng)
    out = _breathy(out, sr, c, rng)
    out = _pauses(out, sr, c, rng)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > _PEAK_LIMIT:
        out = out * (_PEAK_LIMIT / peak)
    return out.astype(np.float32)


def _psola(y: np.ndarray, sr: int, c: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """Slower rate, compressed f0 excursion and per-period f0 jitter in one Praat overlap-add resynthesis."""
    if c["duration_factor"] == 1.0 and c["f0_excursion_kept"] == 1.0 and c["jitter_sd"] == 0.0:
        return y  # nothing to change: skip the resynthesis
    snd = parselmouth.Sound(y, sampling_frequency=sr)
    try:
        manip = call(snd, "To Manipulation", 0.01, _PITCH_FLOOR_HZ, _PITCH_CEILING_HZ)
    except parselmouth.PraatError:
        return y
    dur = call("Create DurationTier", "phantom", 0.0, snd.duration)
    call(dur, "Add point", 0.0, c["duration_factor"])
    call([manip, dur], "Replace duration tier")
    pitch = snd.to_pitch(time_step=0.01, pitch_floor=_PITCH_FLOOR_HZ, pitch_ceiling=_PITCH_CEILING_HZ)
    f0 = pitch.selected_array["frequency"]
    times = pitch.xs()
    voiced = f0 > 0
    if voiced.sum() >= 2:
        median = float(np.median(f0[voiced]))
        tier = call("Create PitchTier", "phantom", 0.0, snd.duration)
        half = 0.5 * float(pitch.time_step)  # step through unvoiced stretches
        t = float(times[voiced][0])
        end = float(times[voiced][-1])
        while t <= end:
            k = int(np.argmin(np.abs(times - t)))  # nearest pitch frame
            if voiced[k]:
                f = float(np.interp(t, times[voiced], f0[voiced]))
                st = 12.0 * np.log2(f / median) * c["f0_excursion_kept"]
                f_new = median * 2.0 ** (st / 12.0) * (1.0 + c["jitter_sd"] * rng.standard_normal())
                f_new = float(np.clip(f_new, _PITCH_FLOOR_HZ, _PITCH_CEILING_HZ))
                call(tier, "Add point", t, f_new)
                t += 1.0 / (f_new * c["duration_factor"])  # one point per OUTPUT period
            else:
                t += half
        if call(tier, "Get number of points") > 0:
            call([manip, tier], "Replace pitch tier")
    # Praat's overlap-add draws random numbers (unvoiced stretches): seed its generator, then release it
    parselmouth.praat.run(f"random_initializeWithSeedUnsafelyButPredictably ({int(rng.integers(2**31))})")
    try:
        out = call(manip, "Get resynthesis (overlap-add)")
    finally:
        parselmouth.praat.run("random_initializeSafelyAndUnpredictably ()")
    return np.asarray(out.values[0], dtype=np.float64)


def _imprecise(y: np.ndarray, sr: int, c: dict[str, float]) -> np.ndarray:
    """Temporal smearing of the STFT magnitude and high-frequency attenuation, original phase."""
    nperseg = max(16, int(round(c["stft_ms"] * 1e-3 * sr)))
    hop = nperseg // 4
    f, _, z = signal.stft(y, fs=sr, window="hann", nperseg=nperseg, noverlap=nperseg - hop, boundary="even")
    mag, phase = np.abs(z), np.angle(z)
    width = 1 + 2 * int(round(0.5 * c["smear_ms"] * 1e-3 * sr / hop))
    if width > 1:
        kernel = np.ones(width) / width
        mag = np.apply_along_axis(lambda row: np.convolve(np.pad(row, width // 2, mode="edge"), kernel, "valid"), 1, mag)
    ramp = np.clip((f - c["hf_start_hz"]) / max(c["hf_full_hz"] - c["hf_start_hz"], 1e-9), 0.0, 1.0)
    gain = 10.0 ** (-c["hf_atten_db"] * ramp / 20.0)
    _, out = signal.istft(mag * gain[:, None] * np.exp(1j * phase), fs=sr, window="hann", nperseg=nperseg, noverlap=nperseg - hop, boundary=True)
    return out[: y.size] if out.size >= y.size else np.pad(out, (0, y.size - out.size))


def _shimmer(y: np.ndarray, sr: int, c: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """Scale each glottal period by an independent random gain (1 ms ramps between periods)."""
    if c["shimmer_sd"] <= 0.0:
        return y
    try:
        pulses = call(parselmouth.Sound(y, sampling_frequency=sr), "To PointProcess (periodic, cc)", _PITCH_FLOOR_HZ, _PITCH_CEILING_HZ)
    except parselmouth.PraatError:
        return y
    n = int(call(pulses, "Get number of points"))
    times = np.array([call(pulses, "Get time from index", i) for i in range(1, n + 1)])
    if times.size < 2:
        return y
    idx = np.clip(np.round(times * sr).astype(int), 0, y.size)
    gain = np.ones(y.size)
    longest = int(sr / _PITCH_FLOOR_HZ)  # a gap longer than the longest period is not one period
    g = np.clip(1.0 + c["shimmer_sd"] * rng.standard_normal(idx.size - 1), 0.2, None)
    for a, b, gk in zip(idx[:-1], idx[1:], g):
        if 0 < b - a <= longest:
            gain[a:b] = gk
    ramp = max(1, int(round(0.001 * sr)))
    gain = np.convolve(np.pad(gain, ramp, mode="edge"), np.ones(ramp) / ramp, mode="same")[ramp:-ramp]
    return y * gain


def _breathy(y: np.ndarray, sr: int, c: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """Add high-passed Gaussian noise following the speech's 20 ms RMS envelope."""
    if c["breath_ratio"] <= 0.0:
        return y
    noise = rng.standard_normal(y.size)
    if c["breath_hp_hz"] < 0.5 * sr:
        sos = signal.butter(4, c["breath_hp_hz"], btype="highpass", fs=sr, output="sos")
        noise = signal.sosfiltfilt(sos, noise)
    noise /= max(float(np.sqrt(np.mean(noise**2))), 1e-12)
    win = max(1, int(round(0.02 * sr)))
    env = np.sqrt(np.convolve(y**2, np.ones(win) / win, mode="same"))
    return y + c["breath_ratio"] * env * noise


def _pauses(y: np.ndarray, sr: int, c: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """Insert room-tone gaps of ``pause_s`` at the deepest envelope dips inside the speech."""
    gap = int(round(c["pause_s"] * sr))
    win = max(1, int(round(0.02 * sr)))
    if gap <= 0 or c["n_pauses"] < 1 or y.size < 4 * win:
        return y
    env = np.sqrt(np.convolve(y**2, np.ones(win) / win, mode="same"))
    env_db = 20.0 * np.log10(np.maximum(env, 1e-10))
    active = np.flatnonzero(env_db > env_db.max() - 25.0)  # the speech: within 25 dB of the peak
    margin = int(round(c["pause_spacing_s"] * sr))
    lo, hi = active[0] + margin, active[-1] - margin
    if hi <= lo:
        return y
    smooth = np.convolve(env_db, np.ones(5 * win) / (5 * win), mode="same")
    cand = lo + signal.argrelmin(smooth[lo:hi], order=win)[0]
    cuts: list[int] = []
    for k in cand[np.argsort(smooth[cand])]:
        if all(abs(int(k) - j) >= margin for j in cuts):
            cuts.append(int(k))
        if len(cuts) == int(c["n_pauses"]):
            break
    frames = env[::win]
    floor = float(np.percentile(frames, 5)) if frames.size else 0.0
    parts, start = [], 0
    for k in sorted(cuts):
        parts += [y[start:k], floor * rng.standard_normal(gap)]
        start = k
    parts.append(y[start:])
    return np.concatenate(parts)
