"""The array type audio travels in between modules: mono float32 samples in [-1, 1].

It lives at the bottom layer so that `audio/` needs nothing above it; the engine
interfaces re-export it for their callers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatAudio = npt.NDArray[np.float32]
