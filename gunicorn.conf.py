"""Gunicorn settings, read from the working directory by `gunicorn wsgi:app` and by `make bench`."""
import gc

#: Access lines name the path without its query (%(U)s, not the request line %(r)s) and leave the
#: Referer (%(f)s) out, which carries the previous page's query: an invitation code in an old slip's
#: `/vote?code=…` link must not land in a log file beside the voter's address (docs/operations.md).
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"'


def post_worker_init(worker):
    """Keep the loaded app's objects out of the garbage collector's full passes.

    A page of the evaluation table allocates enough objects to start full collections, and each
    walked the app's ~150,000 long-lived objects (about 75 ms); frozen, they are not walked again.
    A larger first generation also spares the young collections that a 1,000-row page sets off.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
