"""Evaluation: the LFW verification protocol and open-set identification metrics."""
