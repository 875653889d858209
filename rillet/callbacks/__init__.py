"""Callbacks (``keras.callbacks``): code that ``fit``/``evaluate``/``predict`` run at the
start and end of training, of each epoch and of each batch.

>>> import numpy as np
>>> import rillet as rl
>>> model = rl.Sequential([rl.Input(shape=(2,)), rl.layers.Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> seen = []
>>> log = rl.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
>>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=3, verbose=0, callbacks=[log])
>>> seen
[0, 1, 2]
"""

from .base import Callback, CallbackList, History, ProgbarLogger
from .logs import CSVLogger, LambdaCallback, TensorBoard, TerminateOnNaN
from .monitoring import EarlyStopping, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau

__all__ = [
    "Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
    "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger", "TerminateOnNaN",
    "LambdaCallback", "TensorBoard",
]  # fmt: skip
