"""What the survey package announces, for the packages above it to act on without being imported."""
from blinker import Namespace

_signals = Namespace()

#: Sent with the survey (sender) and `now` inside the publishing transaction, before it commits:
#: a receiver's writes land or roll back with the publication.
survey_published = _signals.signal("survey-published")
