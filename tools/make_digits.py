"""Generate gradflow/data/digits.npz, the small image data set embedded in gradflow.

Origin of the data: the "Optical Recognition of Handwritten Digits" data set
of the UCI Machine Learning Repository (E. Alpaydin and C. Kaynak, 1998,
https://doi.org/10.24432/C50P49), licensed under Creative Commons Attribution
4.0 International (CC BY 4.0). scikit-learn ships its test part (1,797
images) as ``sklearn.datasets.load_digits``; this script copies that. Each
8x8 image counts the set pixels in 4x4 blocks of a 32x32 bitmap, so values
are integers 0 to 16.

The archive holds ``images`` (uint8, 1797 x 8 x 8) and ``labels`` (int64,
1797), deflate-compressed, with fixed zip timestamps so that rerunning the
script gives identical bytes. scikit-learn is needed only here, not when
gradflow reads the file (`gradflow.data.sources.load_digits`).

    .venv/bin/python tools/make_digits.py [--out gradflow/data/digits.npz]
"""

from __future__ import annotations

import argparse
import io
import os
import zipfile
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "gradflow" / "data" / "digits.npz"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def digits_arrays() -> dict[str, np.ndarray]:
    """The digits from scikit-learn, as uint8 images and int64 labels.

    Returns:
        ``{"images": uint8 (1797, 8, 8), "labels": int64 (1797,)}``.

    Example:
        >>> arrays = digits_arrays()
        >>> arrays["images"].shape
        (1797, 8, 8)
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.asarray(digits.images)
    if not (np.array_equal(images, np.round(images)) and images.min() >= 0 and images.max() <= 16):
        raise SystemExit("scikit-learn's digits are no longer integers 0..16; check the source")
    return {
        "images": images.astype(np.uint8),
        "labels": np.asarray(digits.target, dtype=np.int64),
    }


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as a compressed .npz with fixed timestamps (reproducible bytes).

    Args:
        path: the file to write (replaced atomically).
        arrays: name -> array; plain dtypes only (loadable with allow_pickle=False).

    Example:
        >>> write_npz(Path("small.npz"), {"x": np.zeros(3)})  # doctest: +SKIP
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue(), compresslevel=9)
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(buffer.getvalue())
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> None:
    """Write the digits archive and print its size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the .npz")
    args = parser.parse_args(argv)
    arrays = digits_arrays()
    write_npz(args.out, arrays)
    with np.load(args.out, allow_pickle=False) as check:
        for name, array in arrays.items():
            assert np.array_equal(check[name], array) and check[name].dtype == array.dtype
    size_kib = args.out.stat().st_size / 1024
    print(f"{args.out}: {len(arrays['labels'])} images, {size_kib:.1f} KiB")


if __name__ == "__main__":
    main()
