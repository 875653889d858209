"""Small datasets bundled with rillet, loaded Keras-style as NumPy arrays, and synthetic
data sets made from a seed.

>>> import rillet as rl
>>> (x_train, y_train), (x_test, y_test) = rl.datasets.digits.load_data()
>>> x_train.shape, x_test.shape
((1438, 8, 8), (359, 8, 8))
"""

from . import digits, synthetic

__all__ = ["digits", "synthetic"]
