"""fnrag's LoRA training pipeline: self-instruct → review → SFT examples → LoRA → sweep → export.

Each step is a command (``python -m training.<step> --help``); configs are dataclasses
loadable from YAML (:mod:`training.config`). Heavy libraries are imported inside functions.
"""
