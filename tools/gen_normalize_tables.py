"""Generate warptok's normalization tables by probing HF `tokenizers`' normalizers.

HF's NFC/NFD/NFKC/NFKD use their own (older) Unicode data, so we extract it from
``tokenizers.normalizers.<form>().normalize_str`` itself, for every code point except
surrogates; Python's ``unicodedata`` only supplies hypotheses that HF then confirms:

* decompositions: NFD and NFKD of each character alone (Hangul syllables are left out
  of the tables and checked against the algorithm instead);
* canonical combining classes: X is a non-starter iff HF's NFD swaps 'a'+X+U+0334 (class
  1) or 'a'+U+0301 (230)+X. Each non-starter is then compared with one representative
  per class (a non-starter with that class in ``unicodedata``): 'a'+X+R and 'a'+R+X tell
  <, = or >. The class of X is the one it ties with, and the answers must be monotone
  over the sorted classes (so only the order of classes, which is all the algorithm
  uses, comes from HF; the numbers are the representatives');
* primary composites: decomposable characters that HF's NFC maps to themselves. Their
  pair is ``unicodedata.decomposition``'s if HF confirms it (NFC(a+b) = c and equal
  NFD), else derived from HF alone (NFC of the decomposition minus its last char);
* Hangul composition: all L+V and LV+T, plus the edges just outside those ranges;
* Unicode version: marker characters whose normalization data is new in each version.

The table path of ``warptok._compile.unicode_forms`` is then checked against HF on every code point,
on all (first, second) pair candidates, and on NormalizationTest.txt if present, and the
characters whose data differs from this Python's ``unicodedata`` are stored.

Writes src/warptok/_compile/ucd/normalization.py. Rerun (about a minute) after upgrading tokenizers:
  python tools/gen_normalize_tables.py        # needs tokenizers (the test extra)
"""
import importlib
import os
import pathlib
import sys
import time
import types
import unicodedata

import tokenizers
from tokenizers import normalizers

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "warptok" / "_compile" / "ucd" / "normalization.py"
FORMS = ("NFC", "NFD", "NFKC", "NFKD")
HF = {f: getattr(normalizers, f)() for f in FORMS}
CPS = [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
HANGUL = range(0xAC00, 0xAC00 + 11172)
# characters with normalization data (class, decomposition or composition) first
# assigned in each version: the last version whose markers HF all knows is HF's.
MARKERS = [
    ("6.0.0", [0x0859, 0x1BE6]), ("6.1.0", [0x08E4, 0x11100]), ("7.0.0", [0x1AB0, 0x16AF0, 0x114BB]),
    ("8.0.0", [0xA69E, 0x08E3]), ("9.0.0", [0x1E944, 0x08D4, 0x1E000]),
    ("10.0.0", [0x1DF6, 0x11A34, 0x0D3B]), ("11.0.0", [0x1133B, 0x10D24, 0x10F46]),
    ("12.0.0", [0x1E2EC, 0x0EBA, 0x1E130]), ("12.1.0", [0x32FF]),
    ("13.0.0", [0x11938, 0x16FF0, 0x1ABF, 0x1FBF0]), ("14.0.0", [0x1E2AE, 0x0898, 0x10781, 0x1AC1]),
    ("15.0.0", [0x1E030, 0x1E4EC]), ("16.0.0", [0x105C9, 0x1E5EE, 0x16D68]),
]


def hf(form, s):
    return HF[form].normalize_str(s)


def fail(msg):
    sys.exit("gen_normalize_tables: " + msg)


def probe_decompositions():
    single = {f: {} for f in FORMS}
    for cp in CPS:
        c = chr(cp)
        for f in FORMS:
            r = hf(f, c)
            if r != c:
                single[f][cp] = r
    for cp in HANGUL:
        s = cp - HANGUL.start
        lv, t = divmod(s, 28)
        want = chr(0x1100 + lv // 21) + chr(0x1161 + lv % 21) + (chr(0x11A7 + t) if t else "")
        if single["NFD"].get(cp) != want or single["NFKD"].get(cp) != want:
            fail(f"Hangul U+{cp:04X} decomposes differently")
    return single


def probe_ccc(nfd):
    if hf("NFD", "a\u0301\u0334") != "a\u0334\u0301" or hf("NFD", "a\u0334\u0301") != "a\u0334\u0301":
        fail("U+0334 / U+0301 are not classes 1 < 230 in HF")
    swapped = lambda x, y: hf("NFD", "a" + x + y) != "a" + x + y  # noqa: E731
    marks = [cp for cp in CPS if cp not in nfd and cp not in HANGUL and
             (swapped(chr(cp), "\u0334") or swapped("\u0301", chr(cp)))]
    reps = {}
    for cp in marks:
        reps.setdefault(unicodedata.combining(chr(cp)), cp)
    reps.pop(0, None)
    order = sorted(reps)
    ccc = {}
    for cp in marks:
        x = chr(cp)
        cmp = []
        for cls in order:
            r = chr(reps[cls])
            up, down = swapped(x, r), swapped(r, x)
            if up and down:
                fail(f"U+{cp:04X} and U+{reps[cls]:04X} swap both ways")
            cmp.append(1 if up else -1 if down else 0)
        if cmp.count(0) != 1 or cmp != sorted(cmp, reverse=True):
            fail(f"U+{cp:04X}: class not among the representatives or inconsistent order {cmp}")
        ccc[cp] = order[cmp.index(0)]
    return ccc


def probe_composites(nfd):
    pairs, derived_differs = {}, 0
    for cp, d in sorted(nfd.items()):
        c = chr(cp)
        if cp in HANGUL or hf("NFC", c) != c:
            continue
        derived = None
        first = hf("NFC", d[:-1])
        if len(first) == 1 and hf("NFC", first + d[-1]) == c:
            derived = first + d[-1]
        hyp = unicodedata.decomposition(c).split()
        hyp = "".join(chr(int(h, 16)) for h in hyp) if len(hyp) == 2 and hyp[0][0] != "<" else None
        if hyp and hf("NFC", hyp) == c and hf("NFD", hyp) == d:
            pairs[cp] = hyp
            derived_differs += derived != hyp
        elif derived:
            pairs[cp] = derived
        else:
            fail(f"cannot find the pair of composite U+{cp:04X}")
    if derived_differs:
        print(f"  note: {derived_differs} pairs differ from the HF-only derivation (unicodedata's kept)")
    return pairs


def check_hangul_composition():
    bad = 0
    for l in range(0x10FF, 0x1114):
        for v in range(0x1160, 0x1177):
            ok = 0x1100 <= l < 0x1113 and 0x1161 <= v < 0x1176
            want = chr(0xAC00 + ((l - 0x1100) * 21 + v - 0x1161) * 28) if ok else chr(l) + chr(v)
            bad += hf("NFC", chr(l) + chr(v)) != want
    for s in HANGUL:
        for t in (0x11A6, 0x11A7, 0x11A8, 0x11C2, 0x11C3):
            ok = (s - HANGUL.start) % 28 == 0 and 0x11A8 <= t <= 0x11C2
            want = chr(s + t - 0x11A7) if ok else chr(s) + chr(t)
            bad += hf("NFC", chr(s) + chr(t)) != want
    if bad:
        fail(f"{bad} Hangul compositions are not the standard algorithm's")


def unicode_version(known):
    """Last version whose markers HF all knows (none known of any later one)."""
    version, report, gap = "unknown", [], False
    for v, cps in MARKERS:
        n = sum(cp in known for cp in cps)
        report.append(f"{v}:{n}/{len(cps)}")
        if n and (gap or n < len(cps)):
            fail(f"HF knows {n}/{len(cps)} markers of {v}, after a gap: version unclear")
        if n:
            version = v
        else:
            gap = True
    return version, " ".join(report)


def lit(s):
    r = ascii(s)
    return '"' + r[1:-1] + '"' if r[0] == "'" and '"' not in s else r


def dict_lines(name, d, fmt, per_line):
    items = [fmt(k, v) for k, v in sorted(d.items())]
    rows = [" ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return [f"{name} = {{"] + ["    " + r for r in rows] + ["}"]


def cp_ranges(cps):
    """Sorted code points as [(first, last), ...] runs."""
    out = []
    for cp in sorted(cps):
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return [tuple(r) for r in out]


def write(single, ccc, pairs, version, differing):
    nfd = {cp: d for cp, d in single["NFD"].items() if cp not in HANGUL}
    nfkd = {cp: d for cp, d in single["NFKD"].items() if cp not in HANGUL and nfd.get(cp) != d}
    py = f"Python {sys.version.split()[0]} (unicodedata {unicodedata.unidata_version})"
    out = [f"# generated by tools/gen_normalize_tables.py from HF tokenizers {tokenizers.__version__}"
           f" normalizers on {py} -- do not edit",
           f"# HF's normalization data is Unicode {version}. Hangul syllables are algorithmic (not here).",
           f'UNICODE_VERSION = "{version}"',
           f'TOKENIZERS_VERSION = "{tokenizers.__version__}"',
           "# full canonical decompositions (NFD of the character alone)"]
    out += dict_lines("NFD", nfd, lambda k, v: f"0x{k:x}: {lit(v)},", 6)
    out += ["# full compatibility decompositions, where they differ from NFD"]
    out += dict_lines("NFKD", nfkd, lambda k, v: f"0x{k:x}: {lit(v)},", 6)
    out += ["# canonical combining classes of HF's non-starters"]
    out += dict_lines("CCC", ccc, lambda k, v: f"0x{k:x}: {v},", 10)
    out += ["# primary composites -> the pair (first, second) that HF's NFC composes into them"]
    out += dict_lines("PRIMARY_COMPOSITES", pairs, lambda k, v: f"0x{k:x}: {lit(v)},", 6)
    out += ["# unicodedata version -> characters whose normalization data differs from HF's",
            "# (see unicode_forms.differing; other versions are computed at run time)",
            "DIFFERING = {"]
    for v, chars in sorted(differing.items()):
        s = "".join(sorted(chars))
        out += [f'    "{v}": (']
        out += [f"        {lit(s[i:i + 16])}" for i in range(0, len(s), 16)]
        out += ["    ),"]
    out += ["}", ""]
    OUT.write_text("\n".join(out), encoding="ascii")


def load_normalize():
    """warptok._compile.unicode_forms from the source tree (without importing the compiled package)."""
    for name in [m for m in sys.modules if m.startswith("_wt_src")]:
        del sys.modules[name]
    pkg = types.ModuleType("_wt_src")
    pkg.__path__ = [str(ROOT / "src" / "warptok")]
    sys.modules["_wt_src"] = pkg
    return importlib.import_module("_wt_src._compile.unicode_forms")


def verify(mod, ccc, pairs):
    sep = "\x00"
    chunks = [sep.join(map(chr, CPS[i:i + 4096])) for i in range(0, len(CPS), 4096)]
    firsts = sorted({ord(ab[0]) for ab in pairs.values()} | set(pairs) | set(range(0x1100, 0x1113)))
    seconds = sorted({ord(ab[1]) for ab in pairs.values()} | set(ccc) | set(range(0x1161, 0x11C3)))
    row = [sep.join(chr(a) + chr(b) for b in seconds) for a in firsts]
    seq = sep.join(chr(a) + "\u0334" + chr(b) + "\u0316" + chr(b) for a in firsts[::7] for b in seconds)
    tests = chunks + row + [seq]
    path = pathlib.Path(os.environ.get("WARPTOK_SHARED_DATA", ROOT.parent / "shared" / "data"))
    path = path / "adversarial" / "NormalizationTest.txt"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("#")[0]
            if ";" in line:
                tests += ["".join(chr(int(h, 16)) for h in f.split()) for f in line.split(";")[:5]]
    else:
        print(f"  {path} absent: not checked")
    bad = [(f, s) for s in tests for f in FORMS if mod.normalize_tables(f, s) != hf(f, s)]
    if bad:
        f, s = bad[0]
        fail(f"{len(bad)} table-path mismatches, e.g. {f} {ascii(s[:80])}")
    print(f"  table path == HF on {len(tests)} strings x 4 forms")


def main():
    t0 = time.time()
    print(f"probing tokenizers {tokenizers.__version__} on Python {sys.version.split()[0]}")
    single = probe_decompositions()
    nfd = single["NFD"]
    ccc = probe_ccc(nfd)
    pairs = probe_composites(nfd)
    check_hangul_composition()
    known = set(single["NFKD"]) | set(ccc)
    version, report = unicode_version(known)
    print(f"  HF Unicode version: {version} (markers known: {report})")
    for f in FORMS:
        n = sum(hf(f, chr(cp)) != unicodedata.normalize(f, chr(cp)) for cp in CPS)
        print(f"  {f}: {len(single[f])} characters change, {n} differ from unicodedata "
              f"{unicodedata.unidata_version}")
    print(f"  {len(ccc)} non-starters, {len(pairs)} primary composites")
    write(single, ccc, pairs, version, {})
    mod = load_normalize()
    diff = mod._compute_differing(unicodedata)
    write(single, ccc, pairs, version, {unicodedata.unidata_version: diff})
    print(f"  {len(diff)} characters differ from unicodedata {unicodedata.unidata_version} "
          f"(U+{min(map(ord, diff)):04X}..U+{max(map(ord, diff)):04X})")
    verify(load_normalize(), ccc, pairs)
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes) in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
