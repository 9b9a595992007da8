"""WordLlama's table as set-up fetches it, and the Rasa featurizer built on it."""

import subprocess
import sys
import zipfile

import numpy as np
import pytest
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from nlu_components.embeddings import MAX_TOKENS, wordllama
from nlu_components.wordllama_featurizer import WordLlamaFeaturizer
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def featurizer():
    return WordLlamaFeaturizer(
        {**WordLlamaFeaturizer.get_default_config(), "path": str(ROOT / "build/wordllama")}, "wordllama"
    )


def featurized(featurizer, text):
    message = Message(data={"text": text})
    WhitespaceTokenizer(WhitespaceTokenizer.get_default_config()).process([message])
    featurizer.process([message])
    return message.get_dense_features("text")


def test_the_table_is_256_dimensions_and_similar_words_are_close():
    model = wordllama(str(ROOT / "build/wordllama"))
    start, begin, tablet = model.embed(["when does it start working", "when does it begin to work", "tablet color"])
    cosine = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert model.dimensions == 256
    assert cosine(start, begin) > cosine(start, tablet) + 0.1


def test_features_are_deterministic_and_scaled(featurizer):
    first = featurized(featurizer, "can i drink on klonopin")
    second = featurized(featurizer, "can i drink on klonopin")
    sequence, sentence = first
    assert np.array_equal(sentence.features, second[1].features)
    assert sentence.features.shape == (1, 256)
    assert sequence.features.shape == (5, 256)  # one vector per token
    assert np.isclose(np.linalg.norm(sentence.features), featurizer.scale, rtol=1e-4)


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀"])
def test_an_empty_or_wordless_message_gets_zero_features_not_an_error(featurizer, text):
    _, sentence = featurized(featurizer, text)
    assert sentence.features.shape == (1, 256)
    assert np.all(np.isfinite(sentence.features))
    if not text.strip():
        assert not sentence.features.any()


def test_a_very_long_message_is_capped_and_finite(featurizer):
    model = wordllama(str(ROOT / "build/wordllama"))
    text = "klonopin withdrawal " * 20000
    assert len(model.token_ids(text)) == MAX_TOKENS
    _, sentence = featurized(featurizer, text)
    assert np.all(np.isfinite(sentence.features)) and sentence.features.any()


def fake_wheel(path, files):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def run_fetch(*args):
    """`python -m tools.fetch_wordllama` as make's set-up runs it."""
    return subprocess.run(
        [sys.executable, "-m", "tools.fetch_wordllama", *map(str, args)], cwd=ROOT, capture_output=True, text=True
    )


def test_setup_refuses_a_wheel_whose_hash_does_not_match(tmp_path):
    wheel = fake_wheel(tmp_path / "wordllama.whl", {"wordllama/weights/l2_supercat_256.safetensors": b"x"})
    result = run_fetch(tmp_path / "out", "--wheel", wheel)
    assert result.returncode == 1
    assert "sha256 mismatch" in result.stderr and "refusing" in result.stderr
    assert not (tmp_path / "out").exists()


def test_setup_extracts_the_files_from_a_wheel_with_the_expected_hash(tmp_path):
    import hashlib

    files = {
        "wordllama/weights/l2_supercat_256.safetensors": b"table",
        "wordllama/tokenizers/l2_supercat_tokenizer_config.json": b"{}",
        "wordllama-0.4.0.post1.dist-info/licenses/LICENSE": b"MIT",
    }
    wheel = fake_wheel(tmp_path / "wordllama.whl", files)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    result = run_fetch(tmp_path / "out", "--wheel", wheel, "--sha256", digest)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "l2_supercat_256.safetensors").read_bytes() == b"table"
    assert (tmp_path / "out" / "LICENSE").read_text() == "MIT"
    assert digest in (tmp_path / "out" / "SOURCE").read_text()


def test_the_fetched_table_is_the_pinned_one():
    source = (ROOT / "build" / "wordllama" / "SOURCE").read_text()
    assert "684abaaedeecfc841658715e119e8b222b9a39eccf74b0f747f50e7976a22280" in source
