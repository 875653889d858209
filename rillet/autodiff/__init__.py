"""Reverse-mode automatic differentiation: tapes, the backward walk and functional APIs."""
