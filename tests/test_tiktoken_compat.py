"""warptok.tiktoken_compat against the real tiktoken, built from the same local rank files
(conftest.reference: no network). Results, error types and messages must be identical."""

from __future__ import annotations

import pytest

from conftest import TIKTOKEN_NAMES, corpus, reference

from warptok import tiktoken_compat


@pytest.fixture(params=TIKTOKEN_NAMES)
def pair(request):
    return tiktoken_compat.get_encoding(request.param), reference(request.param)


def outcome(fn):
    try:
        return "ok", fn()
    except Exception as e:  # noqa: BLE001 - compared with tiktoken's
        return type(e).__name__, str(e)


def texts(ref):
    specials = sorted(ref.special_tokens_set)
    adversarial = [d for d in corpus("adversarial") if len(d) < 20000][:40]
    return (corpus("english")[:100] + corpus("multilingual")[:20] + adversarial
            + ["", "hello world", f"before {specials[0]} after", " ".join(specials) + " x",
               "lone \ud800 surrogate", "<|endoftext", "<|endoftext|><|endoftext|>"])


SPECIAL_OPTIONS = [dict(), dict(allowed_special="all"), dict(disallowed_special=()),
                   dict(allowed_special={"<|endoftext|>"}), dict(allowed_special="all", disallowed_special=()),
                   dict(disallowed_special={"<|endoftext|>"}), dict(allowed_special=set(), disallowed_special="all")]


def test_encode_matches(pair):
    ours, ref = pair
    for t in texts(ref):
        assert ours.encode_ordinary(t) == ref.encode_ordinary(t)
        for options in SPECIAL_OPTIONS:
            assert outcome(lambda: ours.encode(t, **options)) == outcome(lambda: ref.encode(t, **options)), (t[:40], options)
    t = texts(ref)[-4]
    got, want = ours.encode_to_numpy(t, allowed_special="all"), ref.encode_to_numpy(t, allowed_special="all")
    assert got.dtype == want.dtype and got.tolist() == want.tolist()
    assert outcome(lambda: ours.encode_to_numpy(t)) == outcome(lambda: ref.encode_to_numpy(t))


def test_batches_match(pair):
    ours, ref = pair
    docs = texts(ref)
    ordinary = [d for d in docs if "\ud800" not in d]
    assert ours.encode_ordinary_batch(docs) == ref.encode_ordinary_batch(docs)
    assert ours.encode_ordinary_batch(docs, num_threads=1) == ref.encode_ordinary_batch(docs, num_threads=1)
    for options in SPECIAL_OPTIONS[:4]:
        assert outcome(lambda: ours.encode_batch(docs, **options)) == outcome(lambda: ref.encode_batch(docs, **options))
        assert outcome(lambda: ours.encode_batch(ordinary[:150], **options)) == \
            outcome(lambda: ref.encode_batch(ordinary[:150], **options))
    batch = ref.encode_batch(docs, allowed_special="all")
    assert ours.decode_batch(batch) == ref.decode_batch(batch)
    assert ours.decode_bytes_batch(batch) == ref.decode_bytes_batch(batch)


def test_decode_matches(pair):
    ours, ref = pair
    for t in texts(ref)[::3]:
        ids = ref.encode(t, allowed_special="all")
        assert ours.decode(ids) == ref.decode(ids)
        assert ours.decode_bytes(ids) == ref.decode_bytes(ids)
        assert ours.decode_tokens_bytes(ids) == ref.decode_tokens_bytes(ids)
        for errors in ("strict", "ignore", "replace"):
            half = ids[: len(ids) // 2 + 1]
            assert outcome(lambda: ours.decode(half, errors=errors)) == outcome(lambda: ref.decode(half, errors=errors))
        assert outcome(lambda: ours.decode_with_offsets(ids)) == outcome(lambda: ref.decode_with_offsets(ids))
    for bad in ([ref.n_vocab + 5], [ref.max_token_value + 1]):
        assert outcome(lambda: ours.decode(bad))[0] == outcome(lambda: ref.decode(bad))[0]
    assert outcome(lambda: ours.decode_single_token_bytes(ref.n_vocab + 5))[0] == \
        outcome(lambda: ref.decode_single_token_bytes(ref.n_vocab + 5))[0]


def test_vocabulary_matches(pair):
    ours, ref = pair
    assert ours.name == ref.name
    assert (ours.n_vocab, ours.max_token_value, ours.eot_token) == (ref.n_vocab, ref.max_token_value, ref.eot_token)
    assert set(ours.special_tokens_set) == set(ref.special_tokens_set)
    assert ours.token_byte_values() == ref.token_byte_values()
    for token in [0, 100, ref.eot_token, ref.max_token_value]:
        assert ours.is_special_token(token) == ref.is_special_token(token)
        assert ours.decode_single_token_bytes(token) == ref.decode_single_token_bytes(token)
    for piece in ["hello", b" world", "<|endoftext|>", b"\xff", "not-a-single-token-at-all"]:
        assert outcome(lambda: ours.encode_single_token(piece)) == outcome(lambda: ref.encode_single_token(piece))


def test_get_encoding_is_shared_and_named():
    a = tiktoken_compat.get_encoding("cl100k_base")
    assert a is tiktoken_compat.get_encoding("cl100k_base")
    assert repr(a) == "<Encoding 'cl100k_base'>"
    import pickle

    assert pickle.loads(pickle.dumps(a)) is a
    with pytest.raises(ValueError, match="Unknown encoding"):
        tiktoken_compat.get_encoding("no_such_encoding")


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini-2024-07-18", "gpt-4", "gpt-4-0613", "gpt-3.5-turbo",
                                   "gpt-3.5-turbo-16k", "text-embedding-3-small", "o1", "o3-mini", "gpt-4.1-nano",
                                   "davinci", "gpt2", "ft:gpt-4o:org::id"])
def test_encoding_for_model_matches(model):
    from tiktoken.model import encoding_name_for_model

    assert tiktoken_compat.encoding_name_for_model(model) == encoding_name_for_model(model)
    with pytest.raises(KeyError):
        tiktoken_compat.encoding_name_for_model("no-such-model")
