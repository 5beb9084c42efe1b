"""The comparative-judgement domain and its mathematics: pure Python + numpy, no I/O."""
