"""Unpackers: container formats turned into children for the engine to scan (see `base.Unpacker`)."""
