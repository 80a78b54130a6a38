"""Vigil: a local-only, explainable antivirus engine that reads ClamAV and YARA signatures."""

__version__ = "0.1.0"
