"""Torch modules shared by several components."""
