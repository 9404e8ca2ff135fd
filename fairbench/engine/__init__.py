"""Run kernels over a plan and reduce their output exactly: all-pairs counts (1:1) and
search outcomes (1:N). The local executor runs one worker thread per core."""
