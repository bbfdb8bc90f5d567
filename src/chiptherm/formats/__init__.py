"""Readers and writers of other tools' formats: HotSpot and 3D-ICE."""
