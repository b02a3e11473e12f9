"""Differential fuzzing against the references: random text mixing the Unicode
classes the patterns care about, and random concatenations of vocabulary tokens."""

from functools import lru_cache

from hypothesis import HealthCheck, given, settings

from hypothesis import strategies as st

from conftest import ALL_NAMES, TIKTOKEN_NAMES, ours, ours_encode, reference, reference_encode

ALPHABET = list("aZ0 9'sStT\n\r\t .,!?-_=/\\\"<>|") + [
    "\u017f", "\u212a", "\u00a0", "\u3000", "\u2028", "\u0301", "\u0308", "\u093f", "\u4e2d", "\u6587",
    "\u3042", "\uac00", "\u0410", "\u03a3", "\u03c2", "\u01c5", "\u02b0", "\u00bd", "\u2162", "\U0001F600",
    "\U0001F3FD", "\u200d", "\ufeff", "\U0001D400", "\u0660", "\u00e9", "e\u0301", "\ufffd", "  ", "\n\n",
    "'s", "'LL", "<|endoftext|>", "<|im_start|>", "<|begin_of_text|>", "1234567",
]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
texts = st.lists(st.sampled_from(ALPHABET), max_size=40).map("".join)


@SETTINGS
@given(text=texts)
def test_random_text(text):
    for name in ALL_NAMES:
        assert ours_encode(name, text) == reference_encode(name, text), name


@lru_cache(maxsize=None)
def vocabulary_ids(name):
    """Ids of ordinary vocabulary tokens (no added or special tokens), from the reference."""
    ref = reference(name)
    if name in TIKTOKEN_NAMES:
        return sorted(ref._mergeable_ranks.values())
    added = set(ours(name).added_tokens.values())
    return sorted(i for i in ref.get_vocab(with_added_tokens=False).values() if i not in added)


@SETTINGS
@given(data=st.data())
def test_random_token_concatenations(data):
    for name in ALL_NAMES:
        ids = data.draw(st.lists(st.sampled_from(vocabulary_ids(name)), min_size=1, max_size=12), label=name)
        text = ours(name).decode_bytes(ids).decode("utf-8", "replace")
        assert ours_encode(name, text) == reference_encode(name, text), name
        if name in TIKTOKEN_NAMES:
            assert ours(name).decode(ids) == reference(name).decode(ids)
