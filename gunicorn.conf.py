"""Gunicorn settings, read from the working directory by `gunicorn wsgi:app` and by `make bench`."""
import gc


def post_worker_init(worker):
    """Keep the loaded app's objects out of the garbage collector's full passes.

    A page of the evaluation table allocates enough objects to start full collections, and each
    walked the app's ~150,000 long-lived objects (about 75 ms); frozen, they are not walked again.
    A larger first generation also spares the young collections that a 1,000-row page sets off.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
