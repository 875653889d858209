"""Make a Speech-Commands-like data set with espeak-ng, no downloads: ten keywords, other words
("unknown") and noise alone ("silence"), spoken by many voices (English accents and other
languages' voices reading the English words, each with espeak's male and female variants) at
random speeds and pitches, placed at a random time in 1 s clips and mixed with noise at a random
SNR. The split is by voice, and by more than that: every variant of a held-out accent is held
out, so validation and test voices never speak in training.

    python -m examples.kws.make_dataset            # -> examples/kws/data/generated/
    python -m examples.kws.make_dataset --ship     # also refresh the small shipped subset
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from . import common as C

ENGLISH = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc")  # fmt: skip
OTHER = ("de", "fr-fr", "es", "it", "nl", "sv", "pl", "pt", "da", "fi", "hu", "ro", "cs", "af")
VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+m5", "+m7", "+f1", "+f2", "+f3", "+f4", "+f5")
HELD_OUT = {  # accent -> split; all of its variants go there
    "en-gb-x-gbcwmd": 1, "sv": 1, "es": 1,
    "en-gb-scotland": 2, "en-us-nyc": 2, "nl": 2, "it": 2,
}  # fmt: skip
UNKNOWNS_PER_VOICE = 3
TRAIN_COPIES = 2  # clips made from each training word (new shift, level and noise each time)


def voices() -> list[str]:
    return [base + variant for base in ENGLISH + OTHER for variant in VARIANTS]


def split_of(voice: str) -> int:
    return HELD_OUT.get(voice.split("+")[0], 0)


def jobs(seed: int) -> list[tuple]:
    """(voice index, voice, word, speed, pitch) for every word to synthesize."""
    rng = np.random.default_rng(seed)
    out = []
    for v, voice in enumerate(voices()):
        unknown = rng.choice(C.UNKNOWN_WORDS, UNKNOWNS_PER_VOICE, replace=False)
        for word in (*C.KEYWORDS, *unknown):
            out.append(
                (v, voice, str(word), int(rng.integers(120, 231)), int(rng.integers(15, 86)))
            )
    return out


def resample(audio: np.ndarray, rate: int) -> np.ndarray:
    """Band-limited resampling to 16 kHz by truncating (or zero-extending) the spectrum."""
    if rate == C.SAMPLE_RATE:
        return audio
    padded = np.pad(audio, 256)  # keep the circular wrap-around in the silent margins
    n_out = round(len(padded) * C.SAMPLE_RATE / rate)
    spectrum = np.fft.rfft(padded)[: n_out // 2 + 1]
    return np.fft.irfft(spectrum, n_out) * (n_out / len(padded))


def trim(audio: np.ndarray, margin: int = 320) -> np.ndarray:
    """Cut the silence around a word (samples under 2% of the peak), keeping a 20 ms margin."""
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
    return audio[max(0, loud[0] - margin) : loud[-1] + 1 + margin]


def synthesize(job: tuple) -> np.ndarray:
    _, voice, word, speed, pitch = job
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        command = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", f.name]
        subprocess.run([*command, word], check=True, capture_output=True)
        audio, rate = C.read_wav(Path(f.name).read_bytes())
    word_audio = trim(resample(audio, rate))
    return np.clip(np.round(word_audio * 32767), -32768, 32767).astype(np.int16)


def make_clips(utterances: dict, seed: int) -> dict:
    """Clips of the words (``TRAIN_COPIES`` of each training word, one of the others), each
    with its own offset, level and noise, and as many noise-only clips per voice as a keyword
    has ("silence"); their log-mel features, quantized, with labels and word positions."""
    rng = np.random.default_rng(seed + 1)
    unknown, silence = C.CLASSES.index(C.UNKNOWN), C.CLASSES.index(C.SILENCE)
    clips, rows = [], []  # rows: (label, voice, split, first word frame, last word frame)
    words = zip(utterances["words"], utterances["word"], utterances["voice"], utterances["split"])
    for word_audio, word, v, split in words:
        label = C.CLASSES.index(word) if word in C.KEYWORDS else unknown
        for _ in range(TRAIN_COPIES if split == 0 else 1):
            clip, start, end = C.mix(rng, word_audio.astype(np.float64), C.CLIP_SAMPLES)
            clips.append(clip)
            rows.append((label, v, split, C.frame_of(start), C.frame_of(end)))
    for v, voice in enumerate(utterances["voices"]):
        for _ in range(TRAIN_COPIES if split_of(voice) == 0 else 1):
            clips.append(C.mix(rng, None, C.CLIP_SAMPLES)[0])
            rows.append((silence, v, split_of(voice), 0, 0))
    features = [C.log_mel(np.stack(clips[i : i + 256])) for i in range(0, len(clips), 256)]
    x, low, step = C.quantize(np.concatenate(features))
    label, voice, split, start, end = np.array(rows, np.int16).T
    return dict(x=x, x_low=low, x_step=step, y=label.astype(np.int8), voice=voice,
                split=split.astype(np.int8), word_start=start, word_end=end,
                voices=utterances["voices"])  # fmt: skip


def save_utterances(path: Path, words: list, word: list, voice, split, voice_names) -> None:
    starts = np.cumsum([0] + [len(w) for w in words[:-1]])
    np.savez_compressed(path, audio=np.concatenate(words), starts=starts, word=np.array(word),
                        voice=np.asarray(voice, np.int16), split=np.asarray(split, np.int8),
                        voices=np.array(voice_names))  # fmt: skip


def generate(out_dir: Path, seed: int = 0, processes: int = 2) -> None:
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed; the shipped set in data/shipped/ is used")
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = jobs(seed)
    start = time.perf_counter()
    with Pool(processes) as pool:
        words = pool.map(synthesize, todo, chunksize=16)
    print(f"synthesized {len(words)} words in {time.perf_counter() - start:.0f} s")
    names = voices()
    split = [split_of(names[j[0]]) for j in todo]
    save_utterances(out_dir / "utterances.npz", words, [j[2] for j in todo],
                    [j[0] for j in todo], split, names)  # fmt: skip
    clips = make_clips(C.load_utterances(out_dir), seed)
    np.savez_compressed(out_dir / "features.npz", **clips)
    counts = np.bincount(clips["split"], minlength=3)
    print(
        f"wrote {len(clips['y'])} clips to {out_dir} ("
        + ", ".join(f"{n} {s}" for n, s in zip(counts, C.SPLITS))
        + ")"
    )


def ship(source: Path, target: Path, per_class_and_split: tuple = (50, 15, 25),
         words_per_keyword: int = 6, other_words: int = 20) -> None:  # fmt: skip
    """Copy a small subset to ``target``: a few clips of each class and split, and a few test
    voices' words for the streaming demo."""
    rng = np.random.default_rng(0)
    with np.load(source / "features.npz") as f:
        data = {key: f[key] for key in f.files}
    keep = []
    for split, count in enumerate(per_class_and_split):
        for label in range(len(C.CLASSES)):
            where = np.flatnonzero((data["split"] == split) & (data["y"] == label))
            keep.extend(rng.choice(where, min(count, len(where)), replace=False))
    keep = np.sort(np.array(keep))
    target.mkdir(parents=True, exist_ok=True)
    subset = {
        k: (v[keep] if k not in ("x_low", "x_step", "voices") else v) for k, v in data.items()
    }
    np.savez_compressed(target / "features.npz", **subset)
    words = C.load_utterances(source)
    test = words["split"] == 2
    chosen = [rng.choice(np.flatnonzero(test & (words["word"] == w)), words_per_keyword,
                         replace=False) for w in C.KEYWORDS]  # fmt: skip
    others = np.flatnonzero(test & ~np.isin(words["word"], C.KEYWORDS))
    chosen = np.sort(np.concatenate([*chosen, rng.choice(others, other_words, replace=False)]))
    save_utterances(target / "utterances.npz",
                    [np.round(words["words"][i] * 32768).astype(np.int16) for i in chosen],
                    words["word"][chosen], words["voice"][chosen], words["split"][chosen],
                    words["voices"])  # fmt: skip
    print(f"shipped {len(keep)} clips and {len(chosen)} test words to {target}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=C.GENERATED_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--ship", action="store_true", help="refresh data/shipped/ from --out")
    args = parser.parse_args(argv)
    generate(args.out, args.seed, args.processes)
    if args.ship:
        ship(args.out, C.SHIPPED_DIR)


if __name__ == "__main__":
    main()
