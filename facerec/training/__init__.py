"""Triplet-loss training (``facerec train``), the compact model's training loop, and personalisation
(``facerec adapt``). Importing this package is cheap; torch is imported by the modules that need it."""
