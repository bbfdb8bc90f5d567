"""Outputs of a solve: plots, VTK files, npz/JSON, and the writer that makes a report folder."""
