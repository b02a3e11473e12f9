"""warptok._compile.unicode_forms against HF `tokenizers.normalizers` (NFC, NFD, NFKC, NFKD).

Both paths are checked: `normalize` (unicodedata where provably equal, else the tables)
and `normalize_tables` (HF's tables only), plus `is_normalized`.
"""
import unicodedata

import pytest
from conftest import data

from tokenizers import normalizers  # noqa: E402

FORMS = ("NFC", "NFD", "NFKC", "NFKD")
HF = {f: getattr(normalizers, f)() for f in FORMS}
SEP = "\n"  # a starter that never decomposes or composes: joined fields normalize separately


from warptok._compile import unicode_forms as N  # noqa: E402


def hf(form, s):
    return HF[form].normalize_str(s)


def check(strings, per_string=True):
    """normalize, normalize_tables and is_normalized agree with HF on each string (the
    table path on SEP-joined batches, which is equivalent and faster)."""
    for f in FORMS:
        batch = SEP.join(strings)
        want = hf(f, batch)
        assert N.normalize_tables(f, batch) == want, f
        assert N.normalize(f, batch) == want, f
        if per_string:
            for s in strings:
                h = hf(f, s)
                assert N.normalize(f, s) == h, (f, ascii(s))
                assert N.is_normalized(f, s) == (h == s), (f, ascii(s))


def test_hf_unicode_version():
    assert N.UNICODE_VERSION == "9.0.0" == N._hf_data().UNICODE_VERSION
    # U+1E944 (Adlam, 9.0) is a non-starter for HF; U+1DF6 (10.0) and U+32FF (12.1) unknown
    assert hf("NFD", "a\U0001e944\u0334") == "a\u0334\U0001e944"
    assert hf("NFD", "a\u1df6\u0334") == "a\u1df6\u0334"
    assert hf("NFKD", "\u32ff") == "\u32ff"


def test_new_characters_are_inert_in_hf():
    s = "\U00011935\U00011930"  # composes to U+11938 since Unicode 13.0, not in HF
    for f in FORMS:
        assert N.normalize(f, s) == N.normalize_tables(f, s) == hf(f, s) == s
        assert N.is_normalized(f, s)
    assert not unicodedata.is_normalized("NFC", s)  # so unicodedata alone would be wrong
    assert N.normalize("NFD", "\U00011938") == "\U00011938"


def test_bad_form():
    with pytest.raises(ValueError):
        N.normalize("NFX", "a")
    with pytest.raises(ValueError):
        N.is_normalized("nfc", "a")


def test_ascii_and_empty():
    for f in FORMS:
        assert N.normalize(f, "") == "" and N.is_normalized(f, "")
        assert N.normalize(f, "plain ASCII\x00\x7f") == "plain ASCII\x00\x7f"


def normalization_test_fields():
    """The five columns of every line of Unicode's NormalizationTest.txt."""
    fields = []
    for line in data("adversarial", "NormalizationTest.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0]
        if ";" in line:
            fields += ["".join(chr(int(h, 16)) for h in col.split()) for col in line.split(";")[:5]]
    assert len(fields) > 90000
    return fields


def test_normalization_test_file():
    fields = normalization_test_fields()
    check(fields)


@pytest.mark.parametrize("joined", [False, True], ids=["alone", "adjacent"])
def test_every_code_point(joined):
    """Each code point alone (SEP-separated), and next to its neighbours."""
    cps = [c for c in range(0x80, 0x110000) if not 0xD800 <= c < 0xE000]
    for i in range(0, len(cps), 1 << 15):
        chars = list(map(chr, cps[i:i + (1 << 15)]))
        s = "".join(chars) if joined else SEP.join(chars)
        for f in FORMS:
            want = hf(f, s)
            assert N.normalize_tables(f, s) == want, (f, i)
            assert N.normalize(f, s) == want, (f, i)


def test_udhr():
    text = data("multilingual", "udhr_dev.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    check(lines[::5])
    check([text], per_string=False)
    for f in FORMS:
        assert N.is_normalized(f, text) == (hf(f, text) == text)
        assert N.normalize(f, text) == N.normalize_tables(f, text)


def test_stored_differing_is_current():
    assert N._compute_differing(unicodedata) == N.differing(unicodedata)
    diff = N.differing(unicodedata)
    assert "\u0301" not in diff and "\u00e9" not in diff and "\uac00" not in diff
    assert {"\U00011935", "\U00011930", "\U00011938"} <= diff


def test_older_unicodedata_is_not_trusted(monkeypatch):
    """unicodedata.ucd_3_2_0 (older than HF's 9.0): the table path must be used."""
    monkeypatch.setattr(N, "_ucd", unicodedata.ucd_3_2_0)
    s = "a\u059a\u0316\u1dfa\u0316b \U00011935\U00011930 \u1e0a\u0323 \u00c5\u212b \uac00\u11a8"
    for f in FORMS:
        assert N.normalize(f, s) == hf(f, s)
        assert N.is_normalized(f, s) == (hf(f, s) == s)


# --- fuzz -----------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_tab = N._tables()
MARKS = sorted(_tab.ccc)
SECONDS = sorted({ab[1] for ab in _tab.pairs if ab[1] not in _tab.ccc and ab[1] >= "\u1200"})
FIRSTS = sorted({ab[0] for ab in _tab.pairs if not "\u1100" <= ab[0] < "\u1200"})
COMPOSITES = [chr(cp) for cp in N._hf_data().PRIMARY_COMPOSITES]
COMPAT = [chr(cp) for cp in N._hf_data().NFKD][::7]
JAMO = [chr(c) for c in [*range(0x10FF, 0x1114), *range(0x1160, 0x1177), *range(0x11A6, 0x11C4)]]
SYLLABLES = ["\uac00", "\uac01", "\uac1b", "\uac1c", "\ud788", "\ud7a3", "\ud7a4"]
# assigned in Unicode 10-16 with normalization data (marks, decompositions, composition
# partners), which HF does not know; Python knows those up to its own version
NEW = [chr(c) for c in (
    0x1DF6, 0x1DF9, 0x11A34, 0x0D3B, 0x1133B, 0x10D24, 0x10F46, 0x1E2EC, 0x0EBA, 0x32FF,
    0x11935, 0x11930, 0x11938, 0x16FF0, 0x1ABF, 0x1FBF0, 0x1E2AE, 0x0898, 0x10781, 0x1AC1,
    0x1E030, 0x1E4EC, 0x1E4EF, 0x11F41, 0x105C9, 0x105D2, 0x105E4, 0x105DA, 0x1E5EE,
    0x16D68, 0x16D67, 0x16D63, 0x113C5, 0x113C2, 0x113B8, 0x16121, 0x1611E, 0x1611F)]
BASICS = list("aAeoOsuUy ,\n") + ["\u00e9", "\u1ebf", "\u0627", "\u0915", "\u0e01", "\U0001f600"]

char = st.one_of(st.sampled_from(BASICS), st.sampled_from(MARKS), st.sampled_from(SECONDS),
                 st.sampled_from(FIRSTS), st.sampled_from(COMPOSITES), st.sampled_from(COMPAT),
                 st.sampled_from(JAMO), st.sampled_from(SYLLABLES), st.sampled_from(NEW),
                 st.characters(exclude_categories=("Cs",)))


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(char, max_size=24).map("".join))
def test_fuzz(s):
    for f in FORMS:
        want = hf(f, s)
        assert N.normalize_tables(f, s) == want, f
        assert N.normalize(f, s) == want, f
        assert N.is_normalized(f, s) == (want == s), f
    assert core_nfc()(s) == hf("NFC", s)


# ---- the C core's NFC (what Qwen tokenizers run between added tokens) against HF

def core_nfc():
    from conftest import ours
    core = ours("qwen2.5")._core
    assert core.normalized("e\u0301") == "\u00e9"    # the core has the normalizer
    return core.normalized


def check_core(strings):
    """The core's NFC equals HF's on each string and on all of them SEP-joined."""
    nfc = core_nfc()
    batch = SEP.join(strings)
    assert nfc(batch) == hf("NFC", batch)
    for s in strings:
        assert nfc(s) == hf("NFC", s), ascii(s)


def test_core_nfc_splits_only_where_hf_cannot_join():
    """The core normalizes only around unstable code points: every other one is a
    starter that HF's NFC leaves as it is and never joins to any code point before it."""
    bits = N.nfc_tables()["unstable"]
    stable = [chr(cp) for cp in range(0x80, 0x110000)
              if not 0xD800 <= cp < 0xE000 and not bits[cp >> 3] >> (cp & 7) & 1]
    assert not set(stable) & set(N._tables().ccc)
    s = SEP.join(stable)
    assert hf("NFC", s) == s
    firsts = sorted({ab[0] for ab in N._tables().pairs if not "\uac00" <= ab[0] <= "\ud7a3"} | {"\uac00"})
    near = [c for c in stable if c < "\U00020000"]
    for a in firsts:
        s = SEP.join(a + c for c in near)
        assert hf("NFC", s) == s, hex(ord(a))


def test_core_nfc_normalization_test_file():
    check_core(normalization_test_fields())


@pytest.mark.parametrize("context", ["{}", "a{}", "{}\u0301", "\u1100{}", "{}\u0323\u0302", "\u09c7{}\u09be"])
def test_core_nfc_every_code_point(context):
    """Each code point at the start, end and middle of a text, next to code points that
    compose or reorder with it (SEP-separated, which NFC never crosses)."""
    nfc = core_nfc()
    cps = [c for c in range(0x80, 0x110000) if not 0xD800 <= c < 0xE000]
    for i in range(0, len(cps), 1 << 15):
        s = SEP.join(context.format(chr(c)) for c in cps[i:i + (1 << 15)])
        assert nfc(s) == hf("NFC", s), i


def test_core_nfc_random_sequences():
    """Runs of marks of mixed classes, composable pairs (Latin, Indic, kana, Hangul
    jamo and syllables), singletons and excluded composites, in random order."""
    import random

    t = N._tables()
    seconds = sorted({ab[1] for ab in t.pairs})
    pool = sorted(t.ccc) + [chr(c) for c in sorted(N._hf_data().NFD)] + seconds + list("aeAE \u0915\u09c7\u0b47\u0dd9\u304b")
    pool += [chr(c) for c in (0x1100, 0x1112, 0x1161, 0x1175, 0x11A8, 0x11C2, 0xAC00, 0xAC01, 0xD7A3, 0x0344, 0x0F73)]
    rng = random.Random(5)
    check_core(["".join(rng.choice(pool) for _ in range(rng.randint(1, 12))) for _ in range(30000)])


def test_core_nfc_long_runs():
    """One region of 10^5 marks (the counting sort of long runs) and long composable runs."""
    check_core(["a" + "\u0301\u0323\u0302" * 40000, "\u0301" * 100000, "\u1100\u1161\u11a8" * 30000,
                "e\u0301" * 50000, "\u00e9" * 50000 + "\u0323"])


def test_core_nfc_udhr():
    text = data("multilingual", "udhr_dev.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    check_core(lines[::3] + [unicodedata.normalize("NFD", x) for x in lines[1::3]])
