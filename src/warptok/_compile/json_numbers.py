"""JSON numbers as HF tokenizers reads them.

HF parses tokenizer.json with serde_json built without its ``float_roundtrip`` feature:
a number with a fraction or an exponent is its first 19-20 significant digits as a u64
(the digits that would overflow it are dropped, the exponent kept), converted to f64,
then multiplied or divided once by a power of ten (POW10, each power correctly
rounded). That is not always the correctly rounded value Python's ``float`` gives: a
17-digit score such as -7.3782211717940758 comes out one unit in the last place away.
Unigram's Viterbi adds those scores, so warptok must read them the same way: ``loads``
parses with that rule. Integers (no fraction, no exponent) keep Python's exact ints.
"""

from __future__ import annotations

import json

from .. import errors

_U64_MAX = (1 << 64) - 1
_POW10 = [float(f"1e{k}") for k in range(309)]


def _from_parts(negative: bool, significand: int, exponent: int) -> float:
    f = float(significand)
    while True:
        if abs(exponent) < len(_POW10):
            if exponent >= 0:
                f *= _POW10[exponent]
                if f == float("inf"):
                    raise errors.ValueError("number out of range (HF's JSON reader refuses it)")
            else:
                f /= _POW10[-exponent]
            break
        if f == 0.0:
            break
        if exponent >= 0:
            raise errors.ValueError("number out of range (HF's JSON reader refuses it)")
        f /= 1e308
        exponent += 308
    return -f if negative else f


def serde_float(text: str) -> float:
    """A JSON number with a fraction or exponent (as json's parse_float hands it) as
    serde_json's default parser reads it."""
    negative = text.startswith("-")
    s = text[1:] if negative else text
    if len(s) <= 20 and "." in s and "e" not in s and "E" not in s:
        # A fraction, at most 19 digits and no exponent (most scores): the u64 cannot overflow, so the
        # loop below computes float(digits) / 10**len(fraction); done here by C builtins.
        int_part, _, frac_part = s.partition(".")
        f = float(int(int_part + frac_part)) / _POW10[len(frac_part)]
        return -f if negative else f
    mantissa, _, exp_text = s.replace("E", "e").partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    significand, exponent, overflowed = 0, 0, False
    for k, c in enumerate(int_part):
        if overflowed:
            exponent += 1                       # parse_long_integer: digits past u64 scale it
            continue
        d = ord(c) - 48
        if significand * 10 + d > _U64_MAX:
            overflowed = True
            exponent += 1
            continue
        significand = significand * 10 + d
    if not overflowed:
        for c in frac_part:
            d = ord(c) - 48
            if significand * 10 + d > _U64_MAX:
                break                           # parse_decimal_overflow: the rest is dropped
            significand = significand * 10 + d
            exponent -= 1
    if exp_text:
        e = int(exp_text)
        if abs(e) >= 1 << 31:                   # serde_json: an exponent past i32 is zero or out of range
            if e > 0 and significand:
                raise errors.ValueError("number out of range (HF's JSON reader refuses it)")
            return -0.0 if negative else 0.0
        exponent += e
    return _from_parts(negative, significand, exponent)


def loads(data):
    """json.loads with HF's reading of fractional numbers."""
    return json.loads(data, parse_float=serde_float)
