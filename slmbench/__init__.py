"""slmbench: deployment trade-offs of small language models under agent paradigms."""

__version__ = "0.1.0"
