"""The main job, `make demo`: `rillet train examples/digits_cnn.py` end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_trains_saves_logs_plots_and_reloads(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rillet.cli", "train", str(ROOT / "examples" / "digits_cnn.py"),
         str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["held_out_accuracy"] >= 0.97
    assert report["reloaded_predictions_equal"] is True
    assert os.path.getsize(report["model"]) > 0
    assert os.path.getsize(report["curves"]) > 0
    events = [f for _, _, files in os.walk(report["tensorboard_logs"]) for f in files
              if f.startswith("events.out.tfevents")]  # fmt: skip
    assert events, "no TensorBoard event files were written"
