"""Question answering over article collections, with every claim cited to its passage."""

__version__ = "0.1.0"
