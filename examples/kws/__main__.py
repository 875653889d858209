"""``python -m examples.kws``: the whole keyword-spotting example, start to finish.

1. make the data set with espeak-ng (or use the small set shipped in data/shipped/ when
   espeak-ng is not installed; ``--shipped`` forces that);
2. train the model and report its accuracy on held-out voices;
3. stream a long recording through the converted model and report the detections.
"""

from __future__ import annotations

import argparse
import shutil

from . import common as C
from . import make_dataset, stream, train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shipped", action="store_true", help="use the shipped set, no espeak")
    parser.add_argument("--epochs", type=int, default=None, help="16 (generated), 40 (shipped)")
    args = parser.parse_args(argv)
    if args.shipped or shutil.which("espeak-ng") is None:
        print(f"== using the shipped data set in {C.SHIPPED_DIR}")
        folder, batch_size, epochs = C.SHIPPED_DIR, 16, 40  # a tenth of the clips
    else:
        print("== making the data set with espeak-ng")
        make_dataset.main([])
        folder, batch_size, epochs = C.GENERATED_DIR, 64, 16
    print("== training")
    train.main(["--data", str(folder), "--epochs", str(args.epochs or epochs),
                "--batch-size", str(batch_size)])  # fmt: skip
    print("== streaming")
    stream.main(["--data", str(folder)])


if __name__ == "__main__":
    main()
