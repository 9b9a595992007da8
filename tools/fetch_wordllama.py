"""Fetch WordLlama's embedding table and tokenizer from its PyPI wheel, checked by hash.

The `wordllama` package requires numpy>=2 and pydantic>=2, which clash with Rasa
3.6's pins, so it is never installed: set-up downloads the pinned wheel, checks its
sha256 and takes out three files (the 256-dimension l2_supercat table, its
tokenizer and the MIT licence). nlu_components/embeddings.py reads them with
safetensors and tokenizers.

    python -m tools.fetch_wordllama build/wordllama              # download, check, extract
    python -m tools.fetch_wordllama build/wordllama --wheel F.whl  # check and extract a local wheel
"""

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Optional

# The one wheel whose files we use. Its table and tokenizer are the same in every
# platform's wheel; this one is chosen so that the hash is fixed.
WHEEL = "wordllama-0.4.0.post1-cp310-cp310-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
SHA256 = "684abaaedeecfc841658715e119e8b222b9a39eccf74b0f747f50e7976a22280"
FILES = {
    "wordllama/weights/l2_supercat_256.safetensors": "l2_supercat_256.safetensors",
    "wordllama/tokenizers/l2_supercat_tokenizer_config.json": "l2_supercat_tokenizer_config.json",
    "wordllama-0.4.0.post1.dist-info/licenses/LICENSE": "LICENSE",
}


class FetchError(Exception):
    """Raised with a message that says what to do."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(directory: Path) -> Path:
    """pip fetches the exact wheel (any machine: platform and Python are named)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        "manylinux2014_x86_64",
        "--python-version",
        "3.10",
        "--implementation",
        "cp",
        "--dest",
        str(directory),
        "wordllama==0.4.0.post1",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    wheel = directory / WHEEL
    if result.returncode != 0 or not wheel.exists():
        raise FetchError(f"could not download {WHEEL} from PyPI:\n{result.stderr.strip()}")
    return wheel


def extract(wheel: Path, out: Path, expected: str = SHA256) -> None:
    """Checks the wheel's sha256, then writes FILES into `out` (nothing on a mismatch)."""
    actual = sha256(wheel)
    if actual != expected:
        raise FetchError(
            f"sha256 mismatch for {wheel.name}: expected {expected}, got {actual}. "
            "The file is not the wheel this project was built and measured with; "
            "refusing to use it."
        )
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for member, name in FILES.items():
            (out / name).write_bytes(archive.read(member))
    (out / "SOURCE").write_text(f"{WHEEL}\nsha256 {expected}\n", encoding="utf-8")


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fetch_wordllama", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--wheel", type=Path, help="use this local wheel instead of downloading")
    parser.add_argument("--sha256", default=SHA256, help=argparse.SUPPRESS)  # tests use a wrong one
    args = parser.parse_args(argv)
    try:
        if args.wheel:
            extract(args.wheel, args.out, args.sha256)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                extract(download(Path(tmp)), args.out, args.sha256)
    except (FetchError, OSError, zipfile.BadZipFile, KeyError) as error:
        print(f"fetch_wordllama: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
