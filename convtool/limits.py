"""How much one request may ask for: the command line's option ranges and the searches' own
checks read the same numbers (a module of its own, so the command line starts without the searches)."""

MAX_TOP = 1000  # layers (or chains) one answer lists: more is a file to grep, not an answer
MAX_STAGES = 12
