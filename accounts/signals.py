"""Signals of the accounts layer, for the layers above and the audit log to receive."""
from blinker import Namespace

_signals = Namespace()

#: Sent with the login as typed (stripped) and the client's address when a password is refused.
login_failed = _signals.signal("login-failed")
