"""Make untrusted text (model replies, tool output) safe to store: no surrogate code points.

A Python str can hold code points U+D800-U+DFFF (a JSON escape such as "\\ud800"
decodes to one); they are not characters, UTF-8 cannot encode them, and one of
them makes writing a record or hashing a request raise UnicodeEncodeError.
"""

from __future__ import annotations

import re

REPLACEMENT_CHARACTER = "\ufffd"

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """Whether `text` holds a surrogate code point, i.e. cannot be encoded as UTF-8."""
    return _SURROGATE.search(text) is not None


def scrub_surrogates(text: str) -> str:
    """`text` with every surrogate code point replaced by U+FFFD (linear time; other text unchanged)."""
    return _SURROGATE.sub(REPLACEMENT_CHARACTER, text)


# Bidirectional controls reorder how text is displayed, so that what a reader sees differs from the
# bytes that were scored; wherever model text is shown, each is shown as a visible marker.
_BIDI = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")


def show_bidi(text: str) -> str:
    """`text` with every bidirectional control written as a visible marker, e.g. ⟨U+202E⟩."""
    return _BIDI.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", text)
