"""Generate warptok's Unicode tables by probing the two reference regex engines.

Python's `unicodedata` has its own Unicode version, so instead of trusting it we
ask the engines themselves, for every code point (surrogates D800-DFFF excepted):

* dialect "onig"  = Oniguruma as used by HF `tokenizers`
  (probed with `normalizers.Replace(Regex(pat), "")`: removed chars matched);
* dialect "fancy" = fancy-regex / regex crate as used by `tiktoken`
  (probed with a byte-level `tiktoken.Encoding(pat_str=pat)`: `encode_ordinary`
  only emits tokens for matched text, so decoding yields the matched chars).

Probed: `\\p{XX}` for the 30 two-letter general categories (a category an engine
rejects is derived as "none of the others"), and `\\s`, `\\d`, `\\w`; plus
`(?i:\\x{..})` for each cased candidate character (case-insensitive matching).
Surrogates get category Cs and no flags.

Writes:
  cext/text/unicode_data.h           two-stage uint8 tables: wt_uc_props(dialect, cp)
  src/warptok/_compile/ucd/casefold.py   FOLD[dialect][cp] = all code points (?i:cp) matches

Rerun from anywhere (takes a few seconds):
  python tools/gen_unicode_tables.py          # needs tiktoken and tokenizers (the test extras)
"""
import pathlib
import sys
import unicodedata

import tiktoken
import tokenizers
from tokenizers import Regex, normalizers

ROOT = pathlib.Path(__file__).resolve().parent.parent
GC = "Cn Lu Ll Lt Lm Lo Mn Mc Me Nd Nl No Pc Pd Ps Pe Pi Pf Po Sm Sc Sk So Zs Zl Zp Cc Cf Cs Co".split()
FLAGS = [("space", 0x20, r"\s"), ("digit", 0x40, r"\d"), ("word", 0x80, r"\w")]
GC_MASK = 0x1F
N_CP = 0x110000
SURR = range(0xD800, 0xE000)
ALL = "".join(chr(c) for c in range(N_CP) if c not in SURR)
CHUNK = 4096
RANKS = {bytes([i]): i for i in range(256)}
# code points first assigned in each Unicode version (last fully present one wins)
VERSION_SAMPLES = [("13.0.0", [0x1FB00]), ("14.0.0", [0x1E290, 0x0870]), ("15.0.0", [0x11F00, 0x1E030]),
                   ("15.1.0", [0x2FFC, 0x2EBF0]), ("16.0.0", [0x1C89, 0xA7CB, 0x105C0]), ("17.0.0", [0x20C1])]
FOLD_SPECIAL = [0x17F, 0x73, 0x53, 0x212A, 0x6B, 0x4B, 0x212B, 0xE5, 0xC5, 0x3A3, 0x3C3, 0x3C2,
                0x130, 0x131, 0x69, 0x49, 0xDF, 0x1E9E]


def probe_fancy(pattern, text):
    """Code points of `text` matched by `pattern` in tiktoken (single-char matches assumed)."""
    enc = tiktoken.Encoding(name="probe", pat_str=pattern, mergeable_ranks=RANKS, special_tokens={})
    out = set()
    for i in range(0, len(text), CHUNK):
        out.update(map(ord, enc.decode(enc.encode_ordinary(text[i:i + CHUNK]))))
    return out


def probe_onig(pattern, text):
    """Code points of `text` matched by `pattern` in HF tokenizers (text has no repeated chars
    except separators that the pattern never matches)."""
    norm = normalizers.Replace(Regex(pattern), "")
    out = set()
    for i in range(0, len(text), CHUNK):
        chunk = text[i:i + CHUNK]
        out.update(map(ord, set(chunk) - set(norm.normalize_str(chunk))))
    return out


ENGINES = {"onig": probe_onig, "fancy": probe_fancy}


def classify(dialect):
    """Return (props bytearray indexed by code point, sets of probed categories)."""
    probe = ENGINES[dialect]
    sets, missing = {}, []
    for name in GC:
        try:
            sets[name] = probe(r"\p{%s}" % name, ALL)
        except Exception:
            missing.append(name)
    hits = bytearray(N_CP)
    props = bytearray(N_CP)
    for i, name in enumerate(GC):
        for cp in sets.get(name, ()):
            hits[cp] += 1
            props[cp] = i
    overlaps = [cp for cp in range(N_CP) if hits[cp] > 1]
    gaps = [cp for cp in range(N_CP) if hits[cp] == 0 and cp not in SURR]
    if overlaps:
        print(f"  {dialect}: {len(overlaps)} code points in >1 category, e.g. {list(map(hex, overlaps[:10]))}")
    if missing:
        if len(missing) > 1 and gaps:
            sys.exit(f"{dialect}: cannot derive several missing categories {missing}")
        print(f"  {dialect}: engine lacks \\p{{{','.join(missing)}}}; derived {missing[0]} as 'none of the others'")
        sets[missing[0]] = set(gaps)
        for cp in gaps:
            props[cp] = GC.index(missing[0])
    elif gaps:
        print(f"  {dialect}: {len(gaps)} code points in no category (-> Cn), e.g. {list(map(hex, gaps[:10]))}")
    for cp in SURR:
        props[cp] = GC.index("Cs")
    for name, bit, pat in FLAGS:
        sets[name] = probe(pat, ALL)
        for cp in sets[name]:
            props[cp] |= bit
    for pat in ("L", "N", "M", "P", "S"):
        sets[pat] = probe(r"\p{%s}" % pat, ALL)
        sub = set().union(*(sets[g] for g in GC if g[0] == pat))
        if sub != sets[pat]:
            print(f"  {dialect}: \\p{{{pat}}} != union of its subcategories ({len(sub ^ sets[pat])} differ)")
    return props, sets


def describe(value):
    return "+".join([GC[value & GC_MASK]] + [n for n, bit, _ in FLAGS if value & bit])


def unicode_version(props):
    version = "unknown"
    for v, cps in VERSION_SAMPLES:
        if not all(props[cp] & GC_MASK for cp in cps):
            break
        version = v
    return version


def fold_table(dialect, cands):
    """FOLD entries: cp -> sorted tuple of all candidates that (?i:\\x{cp}) matches."""
    probe = ENGINES[dialect]
    cands = set(cands)
    # completeness: any code point matched case-insensitively by a candidate must be a candidate
    while True:
        cls = "".join(r"\x{%X}" % c for c in sorted(cands))
        extra = probe("(?i:[%s])" % cls, ALL) - cands
        if not extra:
            break
        print(f"  {dialect}: adding {len(extra)} case variants missed by candidates: {list(map(hex, sorted(extra)))[:10]}")
        cands |= extra
    text = "\0".join(chr(c) for c in sorted(cands))  # separator: no multi-char (?i) matches
    fold = {}
    for cp in sorted(cands):
        got = probe(r"(?i:\x{%X})" % cp, text)
        if cp not in got:
            print(f"  {dialect}: (?i:\\x{{{cp:X}}}) does not match itself!")
        got.add(cp)
        if len(got) > 1:
            fold[cp] = tuple(sorted(got))
    asym = sum(1 for x, ys in fold.items() for y in ys if x not in fold.get(y, ()))
    print(f"  {dialect}: {len(cands)} candidates, {len(fold)} fold entries, {asym} asymmetric pairs")
    return fold


def multichar_folds(dialect, cands):
    """Report single chars whose (?i:X) matches a multi-char string (e.g. onig ß ~ 'ss')."""
    found = []
    for cp in sorted(cands):
        c = chr(cp)
        variants = {v for v in (c.casefold(), c.upper(), c.lower(), c.title(), c.casefold().upper()) if len(v) > 1}
        for v in sorted(variants):
            pat = r"(?i:\x{%X})" % cp
            if dialect == "onig":
                ok = normalizers.Replace(Regex(pat), "").normalize_str(v) == ""
            else:
                ok = probe_fancy(pat, v) == set(map(ord, v)) and len(v) == len(set(v))
            if ok:
                found.append(f"{c}~{v}")
    return found


def c_array(values, indent="  ", width=110):
    """Comma-separated C initializer; runs use the WT_R4/WT_R16/WT_R64(v) repeat macros."""
    items, i = [], 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            j += 1
        n = j - i
        for size in (64, 16, 4):
            items += ["WT_R%d(%d)" % (size, values[i])] * (n // size)
            n %= size
        items += ["%d" % values[i]] * n
        i = j
    lines, line = [], indent
    for item in items:
        if len(line) + len(item) + 1 > width:
            lines.append(line)
            line = indent
        line += item + ","
    lines.append(line)
    return "\n".join(lines)


def write_header(props, version, versions_note):
    dialects = list(props)
    shared = props["onig"] == props["fancy"]
    blocks, stage1 = {}, {}
    for d in (dialects[:1] if shared else dialects):
        stage1[d] = [blocks.setdefault(bytes(props[d][b << 8:(b + 1) << 8]), len(blocks)) for b in range(N_CP >> 8)]
    idx_t = "uint8_t" if len(blocks) <= 256 else "uint16_t"
    out = [f"/* generated by tools/gen_unicode_tables.py ({versions_note}, Unicode {version}) -- do not edit */",
           "#ifndef WT_UNICODE_DATA_H", "#define WT_UNICODE_DATA_H", "#include <stdint.h>", "",
           f'#define WT_UNICODE_VERSION "{version}"', "", "/* general categories, values 0..29 */",
           "enum { " + ", ".join(f"WT_GC_{g}" + (" = 0" if i == 0 else "") for i, g in enumerate(GC)) + " };",
           f"#define WT_UC_GC_MASK 0x{GC_MASK:x}"]
    out += [f"#define WT_UC_{n.upper():<5} 0x{bit:x}   /* matches {p} in that dialect */" for n, bit, p in FLAGS]
    out += ["enum { WT_DIALECT_ONIG = 0, WT_DIALECT_FANCY = 1 };", "",
            "#define WT_R4(v) v, v, v, v", "#define WT_R16(v) WT_R4(v), WT_R4(v), WT_R4(v), WT_R4(v)",
            "#define WT_R64(v) WT_R16(v), WT_R16(v), WT_R16(v), WT_R16(v)", ""]
    if shared:
        out += ["/* both dialects agree on every code point: one table */",
                f"static const {idx_t} wt_uc_stage1[{N_CP >> 8}] = {{", c_array(stage1["onig"]), "};"]
    else:
        out += ["/* dialects differ: per-dialect stage1 [onig, fancy], shared pool of stage2 blocks */",
                f"static const {idx_t} wt_uc_stage1[2][{N_CP >> 8}] = {{"]
        out += ["  {\n" + c_array(stage1[d], "    ") + "\n  }," for d in ("onig", "fancy")]
        out += ["};"]
    out += [f"static const uint8_t wt_uc_stage2[{len(blocks)}][256] = {{"]
    out += ["  {\n" + c_array(blk, "    ") + "\n  }," for blk in blocks]
    out += ["};", "", "/* cp <= 0x10FFFF; returns general category | WT_UC_* flags */",
            "static inline unsigned wt_uc_props(int dialect, uint32_t cp) {"]
    if shared:
        out += ["  (void)dialect;", "  return wt_uc_stage2[wt_uc_stage1[cp >> 8]][cp & 0xff];"]
    else:
        out += ["  return wt_uc_stage2[wt_uc_stage1[dialect != 0][cp >> 8]][cp & 0xff];"]
    out += ["}", "", "#undef WT_R4", "#undef WT_R16", "#undef WT_R64", "#endif /* WT_UNICODE_DATA_H */", ""]
    path = ROOT / "cext" / "text" / "unicode_data.h"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out))
    print(f"wrote {path.relative_to(ROOT)}: {path.stat().st_size} bytes, {len(blocks)} stage2 blocks")


def write_fold(folds, version):
    out = ["# generated by tools/gen_unicode_tables.py \u2014 do not edit",
           f'UNICODE_VERSION = "{version}"', "FOLD = {"]
    for d, fold in folds.items():
        out.append(f'    "{d}": {{')
        line = "       "
        for cp, cps in fold.items():
            s = " 0x%X: (%s)," % (cp, ", ".join("0x%X" % c for c in cps))
            if len(line) + len(s) > 100:
                out.append(line)
                line = "       "
            line += s
        out += [line, "    },"]
    out += ["}", ""]
    path = ROOT / "src" / "warptok" / "_compile" / "ucd" / "casefold.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}: {path.stat().st_size} bytes")


def main():
    versions_note = f"tiktoken {tiktoken.__version__}, tokenizers {tokenizers.__version__}"
    print(f"probing {versions_note} (Python unicodedata is {unicodedata.unidata_version}, not used for tables)")
    props, sets = {}, {}
    for d in ENGINES:
        props[d], sets[d] = classify(d)
    versions = {d: unicode_version(props[d]) for d in ENGINES}
    print("Unicode version:", versions)
    version = versions["onig"] if len(set(versions.values())) == 1 else "/".join(versions.values())

    print("counts (onig / fancy); expected for Unicode 16: L 141028, N 1911, s 25, M 2501, P 855, S 8514")
    names = ["L", "N", "M", "P", "S"] + [n for n, _, _ in FLAGS] + GC
    for i in range(0, len(names), 6):
        print("  " + "  ".join(f"{n}={len(sets['onig'][n])}/{len(sets['fancy'][n])}" for n in names[i:i + 6]))
    for field, mask in [("gc", GC_MASK)] + [(n, bit) for n, bit, _ in FLAGS]:
        diff = [cp for cp in range(N_CP) if (props["onig"][cp] ^ props["fancy"][cp]) & mask]
        if diff:
            print(f"  DIFF {field}: {len(diff)} code points: {' '.join('%04X' % c for c in diff[:20])}")
            for cp in diff[:20]:
                onig, fancy = (describe(props[d][cp]) for d in ("onig", "fancy"))
                print(f"    U+{cp:04X} {unicodedata.name(chr(cp), '?')}: onig={onig} fancy={fancy}")
        else:
            print(f"  {field}: identical in both dialects")
    write_header(props, version, versions_note)

    folds, cased = {}, {GC.index(g) for g in ("Lu", "Ll", "Lt")}
    for d in ENGINES:
        cands = set(FOLD_SPECIAL) | {cp for cp in range(N_CP) if props[d][cp] & GC_MASK in cased}
        for cp in range(N_CP):
            if cp in SURR:
                continue
            c = chr(cp)
            for m in (c.lower(), c.upper(), c.casefold(), c.title()):
                if m != c and len(m) == 1:
                    cands.update((cp, ord(m)))
        folds[d] = fold_table(d, cands)
        multi = multichar_folds(d, cands)
        print(f"  {d}: {len(multi)} single chars whose (?i:X) also matches a multi-char string"
              + (f", e.g. {' '.join(multi[:12])}" if multi else ""))
    keys = set(folds["onig"]) | set(folds["fancy"])
    diff = sorted(k for k in keys if folds["onig"].get(k) != folds["fancy"].get(k))
    print(f"fold entries differing between dialects: {len(diff)}")
    for cp in diff[:20]:
        print(f"  U+{cp:04X} onig={folds['onig'].get(cp)} fancy={folds['fancy'].get(cp)}")
    write_fold(folds, version)


if __name__ == "__main__":
    main()
