"""Placeholder until the parser branch lands (it owns this module)."""


def scrub_surrogates(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8") if text else text
