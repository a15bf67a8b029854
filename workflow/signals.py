"""What the workflow announces, for the packages above it to act on without being imported."""
from blinker import Namespace

_signals = Namespace()

#: Sent with `now` after a sweep has committed: cases may have closed or gone overdue.
sweep_finished = _signals.signal("sweep-finished")
