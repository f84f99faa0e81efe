"""Reusable widgets: a picture with face boxes, face thumbnail grids."""
