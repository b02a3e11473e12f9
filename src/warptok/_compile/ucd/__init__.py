"""Generated Unicode tables, probed from the reference engines (tools/README.md):
``casefold`` (what ``(?i:c)`` matches, per regex dialect), ``lowercase`` (HF's Lowercase
normalizer per code point), ``normalization`` (HF's Unicode 9.0 normalization data).
Do not edit by hand."""
