"""GPT-2's byte-level alphabet: each byte is shown as one printable character.
tokenizer.json vocabularies are written in it; warptok works on raw bytes."""

from functools import lru_cache


@lru_cache(maxsize=None)
def byte_to_char() -> dict:
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(0x100 + extra)
            extra += 1
    return mapping


@lru_cache(maxsize=None)
def char_to_byte() -> dict:
    return {c: b for b, c in byte_to_char().items()}


@lru_cache(maxsize=None)
def char_byte_table():
    """array: entry ord(c) is the byte that byte-level character c stands for, or -1."""
    from array import array

    table = array("h", [-1]) * (max(map(ord, char_to_byte())) + 1)
    for c, b in char_to_byte().items():
        table[ord(c)] = b
    return table


@lru_cache(maxsize=None)
def _translation() -> dict:
    # Byte-level characters become the byte's Latin-1 character; any other character
    # at or below U+00FF becomes U+FFFF, so that encoding to Latin-1 fails for it too.
    table = {c: 0xFFFF for c in range(0x100)}
    table.update({ord(c): b for c, b in char_to_byte().items()})
    return table


def to_bytes(token: str):
    """The bytes a byte-level token string stands for, or None if it is not one."""
    try:
        return token.translate(_translation()).encode("latin-1")
    except UnicodeEncodeError:
        return None
