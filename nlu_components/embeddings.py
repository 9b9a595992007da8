"""WordLlama's static token embeddings (l2_supercat, 256 dimensions, MIT).

A message's vector is the mean of its tokens' vectors: no neural network runs,
so it costs a tokenizer call and a table lookup. The table and tokenizer come
out of the wordllama wheel (python -m tools.fetch_wordllama); they are read with
safetensors and tokenizers, never through the wordllama package itself.
"""

from functools import lru_cache
from pathlib import Path
from typing import List, Sequence

import numpy as np

DEFAULT_DIR = "build/wordllama"
TABLE = "l2_supercat_256.safetensors"
TOKENIZER = "l2_supercat_tokenizer_config.json"
# Enough for a long post; the mean of more tokens barely moves and costs time.
MAX_TOKENS = 2048


class WordLlama:
    """Mean-pooled WordLlama vectors for texts."""

    def __init__(self, directory: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        missing = [name for name in (TABLE, TOKENIZER) if not (directory / name).exists()]
        if missing:
            raise FileNotFoundError(
                f"WordLlama files {missing} are missing in {directory}; run `make setup` "
                f"(python -m tools.fetch_wordllama) to fetch them."
            )
        # Kept in float16 as shipped (16 MB); rows are converted when looked up.
        self.table = load_file(str(directory / TABLE))["embedding.weight"]
        self.tokenizer = Tokenizer.from_file(str(directory / TOKENIZER))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    @property
    def dimensions(self) -> int:
        return int(self.table.shape[1])

    def token_ids(self, text: str) -> List[int]:
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids[:MAX_TOKENS]
        return [i for i in ids if 0 <= i < self.table.shape[0]]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 256) float32; an empty or token-less text gets zeros."""
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        stripped = [text.strip() for text in texts]  # blanks alone are tokens to this tokenizer
        for row, encoding in enumerate(self.tokenizer.encode_batch(stripped, add_special_tokens=False)):
            ids = [i for i in encoding.ids[:MAX_TOKENS] if 0 <= i < self.table.shape[0]]
            if ids:
                vectors[row] = self.table[ids].astype(np.float32).mean(axis=0)
        return vectors


@lru_cache(maxsize=2)
def wordllama(directory: str = DEFAULT_DIR) -> WordLlama:
    """One copy per process: the featurizer and the crisis detector share it."""
    return WordLlama(Path(directory))


def fingerprint(directory: str = DEFAULT_DIR) -> str:
    """Changes when the table changes, so Rasa retrains what depends on it."""
    source = Path(directory) / "SOURCE"
    return source.read_text(encoding="utf-8") if source.exists() else "missing"
