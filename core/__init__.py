"""The comparative-judgement domain and its mathematics: pure Python + numpy/scipy, no I/O."""
